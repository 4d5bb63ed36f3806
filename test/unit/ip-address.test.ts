/**
 * Address text for the IPv4 / IPv6 parameters: RFC 5952 canonical output, strict dotted-quad input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIpv6, parseIpAddress, parseIpv4, parseIpv6 } from '../../core/wire/ip-address.js';

test('IPv6 text follows RFC 5952', () => {
  const cases: [string, string][] = [
    ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1'],
    ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // the first of two equal zero runs is compressed
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group is not compressed
    ['::', '::'],
    ['::1', '::1'],
    ['fe80::', 'fe80::'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
    ['::ffff:c000:201', '::ffff:192.0.2.1'],
  ];
  for (const [input, canonical] of cases) {
    const bytes = parseIpv6(input);
    assert.ok(bytes, input);
    assert.equal(formatIpv6(bytes, 0), canonical, input);
  }
});

test('malformed address text is refused', () => {
  for (const bad of ['1.2.3', '1.2.3.4.5', '01.2.3.4', '256.0.0.1', '1.2.3.4 ', '', 'a.b.c.d']) assert.equal(parseIpv4(bad), undefined, bad);
  for (const bad of ['1::2::3', '12345::', ':::', '1:2:3:4:5:6:7:8:9', 'fe80::1%eth0', 'g::1', '::ffff:1.2.3']) assert.equal(parseIpv6(bad), undefined, bad);
  assert.equal(parseIpAddress('localhost'), undefined);
  assert.equal(parseIpAddress('::1')?.family, 6);
  assert.equal(parseIpAddress('127.0.0.1')?.family, 4);
});
