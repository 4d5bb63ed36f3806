/** Renderer entry: mounts the console into index.html's #app. */
import { mount } from 'svelte';
import App from './App.svelte';

const target = document.getElementById('app');
if (!target) {
  throw new Error('index.html has no #app element to mount the console into');
}

export default mount(App, { target });
