// @ts-check
// api.js: one error convention -- resolve what was asked for, reject UploadError for anything else.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { UploadError, cancelJob, fetchStatus, getConfig, retryAfterMs, setAuthToken, withAuth }
  from '../../static/api.js';
import { answer, headerOf, stubFetch } from './fakes.js';

const DOC = { jobId: 'j1', attemptId: 'a1', state: 'UPLOADING', progress: null, pollAfterMs: 1000 };
/** @type {{restore: () => void} | null} */
let stub = null;
afterEach(() => { stub?.restore(); stub = null; setAuthToken(''); });

/** @param {Promise<unknown>} promise @returns {Promise<UploadError>} */
async function rejection(promise) {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof UploadError, `not an UploadError: ${err}`);
    return err;
  }
  assert.fail('it resolved');
}

describe('fetchStatus', () => {
  it('resolves the document and its ETag, asking by jobId with no cache', async () => {
    const s = stub = stubFetch(() => answer(200, DOC, { ETag: '"v1"' }));
    const r = await fetchStatus({ jobId: 'j/1' });
    assert.deepEqual(r, { doc: DOC, etag: '"v1"' });
    assert.equal(s.calls[0].url, '/api/upload/status?jobId=j%2F1');
    assert.equal(s.calls[0].init.cache, 'no-store');
    assert.equal(headerOf(s.calls[0].init, 'If-None-Match'), null);
  });

  it('sends If-None-Match and resolves doc null on 304, keeping the ETag', async () => {
    const s = stub = stubFetch(() => answer(304));
    const r = await fetchStatus({ attemptId: 'a1' }, '"v1"');
    assert.deepEqual(r, { doc: null, etag: '"v1"' });
    assert.equal(s.calls[0].url, '/api/upload/status?attemptId=a1');
    assert.equal(headerOf(s.calls[0].init, 'If-None-Match'), '"v1"');
  });

  it('rejects 404 with the server code and 429 with its Retry-After', async () => {
    stub = stubFetch(() => answer(404, { error: { code: 'not_found', message: 'No such job.' } }));
    const gone = await rejection(fetchStatus({ jobId: 'x' }));
    assert.equal(gone.status, 404);
    assert.equal(gone.code, 'not_found');
    assert.equal(gone.message, 'No such job.');
    stub.restore();
    stub = stubFetch(() => answer(429, { error: { code: 'rate_limited', message: 'Slow down.' } },
      { 'Retry-After': '3' }));
    const busy = await rejection(fetchStatus({ jobId: 'x' }));
    assert.equal(busy.status, 429);
    assert.equal(busy.retryAfterMs, 3000);
  });

  it('rejects status 0 when the network fails, and when a 200 carries no document', async () => {
    stub = stubFetch(() => { throw new TypeError('Failed to fetch'); });
    const offline = await rejection(fetchStatus({ jobId: 'x' }));
    assert.equal(offline.status, 0);
    assert.equal(offline.code, 'network');
    stub.restore();
    stub = stubFetch(() => new Response('not json', { status: 200 }));
    assert.equal((await rejection(fetchStatus({ jobId: 'x' }))).status, 0);
  });

  it('rejects with the signal reason when aborted, not with an UploadError', async () => {
    stub = stubFetch(() => answer(200, DOC));
    const controller = new AbortController();
    controller.abort(new DOMException('stop', 'AbortError'));
    await assert.rejects(fetchStatus({ jobId: 'x' }, null, { signal: controller.signal }), { name: 'AbortError' });
  });

  it('a 5xx without a JSON body still gives a code and a message', async () => {
    stub = stubFetch(() => new Response('<html>Bad gateway</html>', { status: 502 }));
    const e = await rejection(fetchStatus({ jobId: 'x' }));
    assert.equal(e.status, 502);
    assert.equal(e.code, 'http_502');
    assert.match(e.message, /502/);
  });
});

describe('cancelJob and getConfig', () => {
  it('cancelJob resolves the document of a DELETE', async () => {
    const s = stub = stubFetch(() => answer(200, { ...DOC, state: 'CANCELLED' }));
    assert.equal((await cancelJob('j 1')).state, 'CANCELLED');
    assert.equal(s.calls[0].url, '/api/upload/j%201');
    assert.equal(s.calls[0].init.method, 'DELETE');
  });

  it('cancelJob rejects 409 job_final', async () => {
    stub = stubFetch(() => answer(409, { error: { code: 'job_final', message: 'The job is ACTIVE.' } }));
    const e = await rejection(cancelJob('j1'));
    assert.equal(e.status, 409);
    assert.equal(e.code, 'job_final');
  });

  it('getConfig resolves the limits, rejects when refused', async () => {
    const cfg = { maxUploadBytes: 10, allowedMediaTypes: ['video/*'] };
    stub = stubFetch(() => answer(200, cfg));
    assert.deepEqual(await getConfig(), cfg);
    stub.restore();
    stub = stubFetch(() => answer(503));
    const e = await rejection(getConfig());
    assert.equal(e.status, 503);
    assert.equal(e.message, 'The upload limits could not be read.');
  });
});

describe('auth and Retry-After', () => {
  it('every call carries the bearer token once one is set', async () => {
    setAuthToken('  tok  ');
    const s = stub = stubFetch(() => answer(200, DOC));
    await fetchStatus({ jobId: 'x' }, '"e"');
    assert.equal(headerOf(s.calls[0].init, 'Authorization'), 'Bearer tok');
    assert.deepEqual(withAuth({ A: '1' }), { A: '1', Authorization: 'Bearer tok' });
    setAuthToken('');
    assert.deepEqual(withAuth({ A: '1' }), { A: '1' });
  });

  it('retryAfterMs reads seconds and HTTP dates against the given clock', () => {
    const now = Date.parse('2026-12-02T12:00:00Z');
    assert.equal(retryAfterMs('2', null, now), 2000);
    assert.equal(retryAfterMs('Wed, 02 Dec 2026 12:00:05 GMT', null, now), 5000);
    assert.equal(retryAfterMs('Wed, 02 Dec 2026 11:00:00 GMT', null, now), 0);
    assert.equal(retryAfterMs('soon', 7, now), 7);
    assert.equal(retryAfterMs(null, null, now), null);
  });
});
