export { Blobs, isBlobId } from './blobs.js';
