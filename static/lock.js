// @ts-check
// One upload at a time across the tabs of this browser profile: the Web Locks API.
// Where it is missing (not a secure context), only this tab's own single-flight protects.

const NAME = 'focalpoint-upload';

/**
 * Take the lock if free. Resolves a release() function, or null when another tab holds it.
 * @returns {Promise<(() => void) | null>}
 */
export function acquire() {
  if (!navigator.locks) return Promise.resolve(() => {});
  return new Promise((resolve, reject) => {
    navigator.locks.request(NAME, { ifAvailable: true }, (lock) => {
      if (!lock) { resolve(null); return undefined; }
      return new Promise((release) => resolve(() => release(undefined)));
    }).catch(reject);
  });
}

/** True when another tab holds the lock now. */
export async function heldElsewhere() {
  if (!navigator.locks?.query) return false;
  const state = await navigator.locks.query();
  return (state.held ?? []).some((l) => l.name === NAME);
}

/** Call `callback` once the lock is free again (taken and released at once). @param {() => void} callback */
export function whenFree(callback) {
  if (!navigator.locks) { callback(); return; }
  navigator.locks.request(NAME, () => undefined).then(callback, callback);
}
