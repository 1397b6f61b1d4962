// The smallest IndexedDB wrapper the vault needs: one database, two object stores, values that
// are structured-clonable (Uint8Array and plain objects). Only ciphertext and the public header
// are ever written here.
import { DB_NAME, STORE_BLOBS, STORE_META } from './consts.js';

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

export function openDb(name = DB_NAME): Promise<IDBDatabase> {
  const r = indexedDB.open(name, 1);
  r.onupgradeneeded = () => {
    r.result.createObjectStore(STORE_META);
    r.result.createObjectStore(STORE_BLOBS);
  };
  return request(r);
}

export async function get(db: IDBDatabase, store: string, key: string): Promise<unknown> {
  return request(db.transaction(store, 'readonly').objectStore(store).get(key));
}

/** Writes and waits for the transaction to commit (durable before the promise resolves). */
export function put(db: IDBDatabase, store: string, key: string, value: unknown): Promise<void> {
  const tx = db.transaction(store, 'readwrite');
  tx.objectStore(store).put(value, key);
  return done(tx);
}

export function del(db: IDBDatabase, store: string, key: string): Promise<void> {
  const tx = db.transaction(store, 'readwrite');
  tx.objectStore(store).delete(key);
  return done(tx);
}

export async function keys(db: IDBDatabase, store: string): Promise<string[]> {
  return (await request(db.transaction(store, 'readonly').objectStore(store).getAllKeys())).map(String);
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('transaction aborted'));
  });
}

export { STORE_BLOBS, STORE_META };
