/**
 * The console's fragment routes (renderer/src/model/route.ts): every view parses and prints back, pool
 * handles of any text survive the round trip, and whatever a hostile or broken link puts in the fragment
 * parses to some route without throwing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseRoute, routeHash, type Route } from '../../../renderer/src/model/route.js';

const EVERY_ROUTE: readonly [string, Route][] = [
  ['#/overview', { view: 'overview' }],
  ['#/pool', { view: 'pool', pool: null, element: null }],
  ['#/pool/echo', { view: 'pool', pool: 'echo', element: null }],
  ['#/pool/echo/31', { view: 'pool', pool: 'echo', element: 31 }],
  ['#/feed', { view: 'feed' }],
  ['#/charts', { view: 'charts', pool: null }],
  ['#/charts/echo', { view: 'charts', pool: 'echo' }],
  ['#/history', { view: 'history' }],
  ['#/registrars', { view: 'registrars' }],
  ['#/components', { view: 'components' }],
  ['#/connections', { view: 'connections' }],
  ['#/all', { view: 'all' }],
];

test('every view parses from its hash and prints back to the same hash', () => {
  for (const [hash, route] of EVERY_ROUTE) {
    assert.deepEqual(parseRoute(hash), route, hash);
    assert.equal(routeHash(route), hash, hash);
  }
  // The views listed are all the views there are (a new one must be added here).
  const views = new Set(EVERY_ROUTE.map(([, route]) => route.view));
  assert.equal(views.size, 9);
});

test('the fragment may come without "#", without "/", or empty', () => {
  assert.deepEqual(parseRoute(''), { view: 'overview' });
  assert.deepEqual(parseRoute('#'), { view: 'overview' });
  assert.deepEqual(parseRoute('#/'), { view: 'overview' });
  assert.deepEqual(parseRoute('#feed'), { view: 'feed' });
  assert.deepEqual(parseRoute('pool/echo/2'), { view: 'pool', pool: 'echo', element: 2 });
});

test('pool handles are percent-encoded in the hash and decoded when parsed', () => {
  const handles = ['with space', 'a/b', '50%', 'q?x=1&y', 'frag#ment', 'Ünïcødé ✓', '0x00ff10', '..', '%2F'];
  for (const pool of handles) {
    const route: Route = { view: 'pool', pool, element: 7 };
    const hash = routeHash(route);
    assert.equal(hash.split('/').length, 4, `the handle is one path segment: ${hash}`);
    assert.doesNotMatch(hash.slice(1), /[#?\s]/, hash);
    assert.deepEqual(parseRoute(hash), route, hash);
    assert.deepEqual(parseRoute(routeHash({ view: 'charts', pool })), { view: 'charts', pool });
  }
  assert.equal(routeHash({ view: 'pool', pool: 'a b/c', element: null }), '#/pool/a%20b%2Fc');
});

test('round trip: any non-empty pool handle and any 32-bit element id', () => {
  fc.assert(
    fc.property(fc.string({ minLength: 1, unit: 'binary' }), fc.option(fc.integer({ min: 0, max: 0xffffffff }), { nil: null }), (pool, element) => {
      const route: Route = { view: 'pool', pool, element };
      assert.deepEqual(parseRoute(routeHash(route)), route);
      assert.deepEqual(parseRoute(routeHash({ view: 'charts', pool })), { view: 'charts', pool });
    }),
    { numRuns: 500 },
  );
});

test('an element without a pool is not written (it could not be read back)', () => {
  assert.equal(routeHash({ view: 'pool', pool: null, element: 5 }), '#/pool');
  // An empty pool segment parses as no pool, but the element id still parses.
  assert.deepEqual(parseRoute('#/pool//5'), { view: 'pool', pool: null, element: 5 });
});

test('the element segment must be decimal digits', () => {
  assert.deepEqual(parseRoute('#/pool/echo/0x1f'), { view: 'pool', pool: 'echo', element: null });
  assert.deepEqual(parseRoute('#/pool/echo/-1'), { view: 'pool', pool: 'echo', element: null });
  assert.deepEqual(parseRoute('#/pool/echo/1.5'), { view: 'pool', pool: 'echo', element: null });
  assert.deepEqual(parseRoute('#/pool/echo/'), { view: 'pool', pool: 'echo', element: null });
  assert.deepEqual(parseRoute('#/pool/echo/007'), { view: 'pool', pool: 'echo', element: 7 });
  assert.deepEqual(parseRoute('#/pool/echo/12/extra/segments'), { view: 'pool', pool: 'echo', element: 12 });
});

test('hostile fragments: unknown views, prototype names, broken escapes and script text parse without throwing', () => {
  for (const hash of ['#/Pool', '#/POOL/echo', '#/__proto__', '#/constructor', '#/toString', '#/../../etc/passwd', '#/%00', '#javascript:alert(1)', '#/overview%2Fpool']) {
    assert.deepEqual(parseRoute(hash), { view: 'overview' }, hash);
  }
  // A malformed percent escape stays as written instead of throwing URIError.
  assert.deepEqual(parseRoute('#/pool/%E0%A4%A/3'), { view: 'pool', pool: '%E0%A4%A', element: 3 });
  assert.deepEqual(parseRoute('#/pool/%'), { view: 'pool', pool: '%', element: null });
  // Markup in a handle is just text (the views render it escaped).
  const script = parseRoute('#/charts/%3Cscript%3Ealert(1)%3C%2Fscript%3E');
  assert.deepEqual(script, { view: 'charts', pool: '<script>alert(1)</script>' });
  // An encoded slash inside the view name does not split it into a route.
  assert.deepEqual(parseRoute('#/pool%2Fecho'), { view: 'overview' });
});

test('parseRoute never throws and always yields a known view, whatever the fragment', () => {
  const known = new Set(EVERY_ROUTE.map(([, route]) => route.view));
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), (text) => {
      const route = parseRoute(text);
      assert.ok(known.has(route.view));
      if (route.view === 'pool' && route.element !== null) assert.ok(Number.isInteger(route.element) && route.element >= 0);
      // What it parsed to prints to a hash that parses to the same route.
      const printed = routeHash(route);
      const reparsed = parseRoute(printed);
      if (route.view === 'pool' && route.pool === null) assert.deepEqual(reparsed, { view: 'pool', pool: null, element: null });
      else assert.deepEqual(reparsed, route);
    }),
    { numRuns: 1000 },
  );
});
