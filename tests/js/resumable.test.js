// @ts-check
// resumable.js's pure parts: the chunk size that follows the measured speed, full-jitter back-off, the sha256.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

import { MIB, fullJitter, nextChunkSize, sha256Base64 } from '../../static/resumable.js';

describe('nextChunkSize', () => {
  it('aims at ~7.5 s of the measured speed, rounded down to 256 KiB', () => {
    assert.equal(nextChunkSize(8 * MIB, 1_000_000, 64 * MIB), 7 * MIB);
  });

  it('stays at least 1 MiB, grows at most 4x, never beyond the server maximum', () => {
    assert.equal(nextChunkSize(MIB, 10, 64 * MIB), MIB);
    assert.equal(nextChunkSize(MIB, 1e9, 64 * MIB), 4 * MIB);
    assert.equal(nextChunkSize(32 * MIB, 1e9, 40 * MIB), 40 * MIB);
    assert.equal(nextChunkSize(MIB, 1e9, 512 * 1024), 512 * 1024, 'a server maximum below 1 MiB wins');
  });
});

describe('fullJitter', () => {
  it('waits in [0, min(cap, base * 2^attempt))', () => {
    const real = Math.random;
    try {
      Math.random = () => 0.999999;
      assert.ok(fullJitter(3, 500, 20000) < 4000 && fullJitter(3, 500, 20000) > 3999);
      assert.ok(fullJitter(10, 500, 20000) < 20000 && fullJitter(10, 500, 20000) > 19999);
      Math.random = () => 0;
      assert.equal(fullJitter(5, 500, 20000), 0);
    } finally {
      Math.random = real;
    }
  });
});

describe('sha256Base64', () => {
  it('is the base64 sha256 of the bytes, as Upload-Checksum wants it', async () => {
    const bytes = new Uint8Array(3 * MIB).map((_, i) => (i * 31) & 0xff);
    const want = createHash('sha256').update(bytes).digest('base64');
    assert.equal(await sha256Base64(new Blob([bytes])), want);
  });
});
