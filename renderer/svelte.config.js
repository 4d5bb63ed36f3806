/** Svelte compiler settings, read by vite-plugin-svelte and svelte-check alike. */
export default {
  compilerOptions: {
    // Svelte 5 runes everywhere: no legacy `$:` / `export let` components.
    runes: true,
  },
};
