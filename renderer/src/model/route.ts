/** The console's address-bar routes (the fragment), so a view can be bookmarked or reloaded. */
export type Route =
  | { readonly view: 'overview' }
  | { readonly view: 'pool'; readonly pool: string | null; readonly element: number | null }
  | { readonly view: 'feed' }
  | { readonly view: 'charts'; readonly pool: string | null }
  | { readonly view: 'history' }
  | { readonly view: 'registrars' }
  | { readonly view: 'components' }
  | { readonly view: 'connections' }
  | { readonly view: 'all' };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').map((part) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  });
  switch (parts[0]) {
    case 'pool': {
      const element = parts[2] !== undefined && /^\d+$/.test(parts[2]) ? Number(parts[2]) : null;
      return { view: 'pool', pool: parts[1] || null, element };
    }
    case 'feed':
      return { view: 'feed' };
    case 'charts':
      return { view: 'charts', pool: parts[1] || null };
    case 'history':
      return { view: 'history' };
    case 'registrars':
      return { view: 'registrars' };
    case 'components':
      return { view: 'components' };
    case 'connections':
      return { view: 'connections' };
    case 'all':
      return { view: 'all' };
    default:
      return { view: 'overview' };
  }
}

export function routeHash(route: Route): string {
  switch (route.view) {
    case 'pool':
      return `#/pool${route.pool === null ? '' : `/${encodeURIComponent(route.pool)}`}${route.pool !== null && route.element !== null ? `/${route.element}` : ''}`;
    case 'charts':
      return `#/charts${route.pool === null ? '' : `/${encodeURIComponent(route.pool)}`}`;
    default:
      return `#/${route.view}`;
  }
}
