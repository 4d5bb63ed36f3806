/**
 * Decoder limits: what a registrar accepts before it refuses a message. Every limit is configurable;
 * the defaults are documented in README.md ("Wire limits").
 */
export interface WireLimits {
  /** Largest message in bytes, padding included (the 16-bit length field allows 65535 + 1 pad byte). */
  readonly maxMessageSize: number;
  /** Deepest TLV nesting: PE (1) > transport (2) > address (3); an Operation Error cause counts as a level. */
  readonly maxNestingDepth: number;
  /** Longest pool handle in bytes (RSPLIB's MAX_POOLHANDLESIZE is 32). */
  readonly maxPoolHandleLength: number;
  /** Most Pool Element parameters in one message (ENRP handle table chunks default to 128). */
  readonly maxPoolElementsPerMessage: number;
  /** Most addresses in one SCTP transport (RSPLIB's MAX_PE_TRANSPORTADDRESSES is 64). */
  readonly maxAddressesPerTransport: number;
}

export const DEFAULT_WIRE_LIMITS: WireLimits = Object.freeze({
  maxMessageSize: 65536,
  maxNestingDepth: 4,
  maxPoolHandleLength: 32,
  maxPoolElementsPerMessage: 256,
  maxAddressesPerTransport: 64,
});

export function withLimits(overrides: Partial<WireLimits>): WireLimits {
  return Object.freeze({ ...DEFAULT_WIRE_LIMITS, ...overrides });
}
