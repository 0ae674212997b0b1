// A Vite dev server in front of the service, as a FocalPoint developer would run one: every path is proxied to
// FOCALPOINT_TARGET. Timeouts shortened to 20 s (FOCALPOINT_PROXY_TIMEOUT_MS) so a request whose body takes
// longer than that is cut (408 from Node's requestTimeout, or the proxy's own timeout), as on a slow uplink.
const target = process.env.FOCALPOINT_TARGET;
const timeout = Number(process.env.FOCALPOINT_PROXY_TIMEOUT_MS || 20000);

export default {
  logLevel: 'info',
  clearScreen: false,
  server: {
    host: '127.0.0.1',
    proxy: { '^/.*': { target, changeOrigin: false, timeout, proxyTimeout: timeout } },
  },
  plugins: [{
    name: 'short-request-timeout',
    configureServer(server) {
      server.httpServer?.on('listening', () => { server.httpServer.requestTimeout = timeout; });
      if (server.httpServer) server.httpServer.requestTimeout = timeout;
    },
  }],
};
