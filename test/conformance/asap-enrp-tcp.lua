-- asap-enrp-tcp.lua: message framing for ASAP (tcp/3863) and ENRP (tcp/9901) carried over TCP.
--
-- tshark 4.0.17 registers ASAP on tcp.port 3863 without tcp_dissect_pdus, so it neither splits two
-- messages that share a segment nor reassembles one that spans segments, and it has no ENRP-over-TCP
-- at all. This dissector frames the byte stream by the 16-bit Message Length at offset 2 of the 4-byte
-- common header (RFC 5354 section 4), rounded up to a multiple of 4 because the padding after the last
-- parameter is on the wire but not in the length, and hands each message to the built-in dissector.
--
-- Usage: tshark -X lua_script:test/conformance/asap-enrp-tcp.lua -r capture.pcap
-- (also loads in Wireshark via Analyze > Lua or the personal plugins folder)

local ASAP_PORT = 3863
local ENRP_PORT = 9901
local HEADER_LENGTH = 4

-- Neither dissector is registered by name in tshark 4.0.17 (Dissector.get("asap") and
-- Dissector.get("enrp") are nil), so take the handles from the UDP port table, which both use.
local udp_port = DissectorTable.get("udp.port")
local asap = udp_port:get_dissector(ASAP_PORT)
local enrp = udp_port:get_dissector(ENRP_PORT)
assert(asap ~= nil, "asap-enrp-tcp.lua: no built-in ASAP dissector on udp.port 3863")
assert(enrp ~= nil, "asap-enrp-tcp.lua: no built-in ENRP dissector on udp.port 9901")

local framing = Proto("rserpool_tcp", "RSerPool message framing over TCP")

local function padded_message_length(tvb, pinfo, offset)
  local length = tvb(offset + 2, 2):uint()
  if length < HEADER_LENGTH then
    -- A Length below the header size cannot frame anything. Returning a value in 1..3 (below the
    -- header size) makes tcp_dissect_pdus flag the segment as malformed; 0 would mean "need more data"
    -- and hide the error, and rounding 1..3 up to 4 would quietly turn it into an empty message.
    return math.max(length, 1)
  end
  return length + ((4 - length % 4) % 4)
end

local function port_of(pinfo)
  if pinfo.match_uint == ENRP_PORT or pinfo.src_port == ENRP_PORT or pinfo.dst_port == ENRP_PORT then
    return ENRP_PORT
  end
  return ASAP_PORT
end

local function dissect_message(tvb, pinfo, tree)
  if port_of(pinfo) == ENRP_PORT then
    return enrp:call(tvb, pinfo, tree)
  end
  return asap:call(tvb, pinfo, tree)
end

function framing.dissector(tvb, pinfo, tree)
  dissect_tcp_pdus(tvb, tree, HEADER_LENGTH, padded_message_length, dissect_message, true)
  return tvb:len()
end

-- DissectorTable:add replaces the entry for a port, so this takes tcp/3863 over from the built-in
-- ASAP registration (which has no stream framing) and adds tcp/9901, which has no entry at all.
local tcp_port = DissectorTable.get("tcp.port")
tcp_port:add(ASAP_PORT, framing)
tcp_port:add(ENRP_PORT, framing)
