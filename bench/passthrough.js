// The pass-through worker: forwards every request to ORIGIN_URL, no authorization.
// The limit that no worker in front of an origin can beat.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    return fetch(env.ORIGIN_URL + url.pathname + url.search, request);
  },
};
