// The pass-through worker plus one JSON log line per request, shaped like keyward's
// decision line: what the line alone costs any worker on this runtime.
export default {
  async fetch(request, env) {
    const started = Date.now();
    const url = new URL(request.url);
    const response = await fetch(env.ORIGIN_URL + url.pathname + url.search, request);
    console.log(JSON.stringify({ event: "decision", request_id: "0123456789abcdef",
      method: request.method, path: url.pathname, status: response.status, code: null,
      key_id: "key_0123456789abcdef", latency_ms: Date.now() - started }));
    return response;
  },
};
