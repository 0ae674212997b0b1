// Drive tus-js-client (the real npm package, unchanged) for the interop tests; one JSON line per event on stdout.
// Usage: node client.mjs '<json options>'
//   endpoint, uploadUrl, file, protocol ('tus-v1' | 'ietf-draft-05'), chunkSize, source ('file' | 'stream'),
//   store (path of a FileUrlStorage: resume a previous upload of the same file from its stored URL),
//   corruptAt (offset of the PATCH whose Upload-Checksum is made wrong), killAt (SIGKILL this process once
//   the body bytes sent reach this absolute offset), retryDelays, metadata, headers (sent on every request:
//   Authorization)
// @ts-check
import * as fs from 'node:fs'
import { PassThrough } from 'node:stream'
import { FileUrlStorage, Upload } from 'tus-js-client'

const opts = JSON.parse(process.argv[2])
const emit = (event) => process.stdout.write(`${JSON.stringify(event)}\n`)
const size = fs.statSync(opts.file).size
let input = fs.createReadStream(opts.file)
if (opts.source === 'stream') input = input.pipe(new PassThrough()) // a plain stream: Upload-Complete ?0 throughout

/** @type {import('tus-js-client').UploadOptions} */
const options = {
  endpoint: opts.endpoint,
  uploadUrl: opts.uploadUrl,
  protocol: opts.protocol,
  chunkSize: opts.chunkSize,
  uploadSize: size,
  retryDelays: opts.retryDelays ?? [0, 200, 500],
  metadata: opts.metadata ?? { filename: 'clip.mp4', filetype: 'video/mp4' },
  headers: opts.headers ?? {},
  removeFingerprintOnSuccess: false,
  onBeforeRequest(req) {
    const offset = req.getHeader('Upload-Offset')
    if (req.getMethod() === 'PATCH' && opts.corruptAt !== undefined && Number(offset) === opts.corruptAt) {
      req.setHeader('Upload-Checksum', 'sha1 AAAAAAAAAAAAAAAAAAAAAAAAAAA=')
    }
    emit({ event: 'request', method: req.getMethod(), offset: offset === undefined ? null : Number(offset) })
  },
  onAfterResponse(req, res) {
    const offset = res.getHeader('Upload-Offset')
    emit({ event: 'response', method: req.getMethod(), status: res.getStatus(),
           offset: offset === undefined || offset === null ? null : Number(offset) })
  },
  onProgress(sent) {
    if (opts.killAt !== undefined && sent >= opts.killAt) {
      emit({ event: 'killed', sent })
      process.kill(process.pid, 'SIGKILL')
    }
  },
  onUploadUrlAvailable() {
    emit({ event: 'url', url: upload.url })
  },
  onSuccess() {
    emit({ event: 'success', url: upload.url })
  },
  onError(error) {
    // @ts-ignore: DetailedError carries the response that failed
    const res = error.originalResponse
    emit({ event: 'error', message: String(error.message).slice(0, 300), status: res ? res.getStatus() : null })
    process.exitCode = 1
  },
}
if (opts.store) options.urlStorage = new FileUrlStorage(opts.store)

const upload = new Upload(input, options)
if (opts.store) {
  const previous = await upload.findPreviousUploads()
  if (previous.length > 0) {
    emit({ event: 'resuming', url: previous[0].uploadUrl })
    upload.resumeFromPreviousUpload(previous[0])
  }
}
upload.start()
