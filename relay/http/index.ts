export { createApp } from './app.js';
export { authenticate, bearer, type Auth } from './auth.js';
