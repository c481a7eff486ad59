/** The tenant's web app: sign in with an API token, see your machines change live, act on them, open consoles. */
import { render } from 'preact';
import { App } from './app.js';

render(<App />, document.getElementById('app')!);
