// Front Worker for workerd's Worker Loader (config loader.capnp). Per request it asks the
// `LOADER` binding for a dynamic Worker whose code is a hello fetch handler and forwards the
// request to that Worker's default entrypoint. The path picks how the dynamic Worker is named:
//   /fresh  - a fresh id per request (crypto.randomUUID()): a new isolate every time. workerd
//             keeps named dynamic Workers in its loader's map for the life of the process, so
//             memory grows with every request in this mode (restart workerd between runs).
//   /fixed  - one fixed id: the first request builds the Worker, every later one reuses it.
//   /anon   - LOADER.load(code): an unnamed Worker, new per request, released once its stub
//             is garbage-collected (fresh isolate without the map growth of /fresh).
const CODE = {
  compatibilityDate: '2025-01-01',
  mainModule: 'main.js',
  modules: {
    'main.js': "export default { fetch() { return new Response('hello') } }",
  },
};

export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    let worker;
    if (pathname === '/fresh') {
      worker = env.LOADER.get(crypto.randomUUID(), () => CODE);
    } else if (pathname === '/fixed') {
      worker = env.LOADER.get('hello-fixed', () => CODE);
    } else if (pathname === '/anon') {
      worker = env.LOADER.load(CODE);
    } else {
      return new Response('use /fresh, /fixed or /anon\n', { status: 404 });
    }
    return worker.getEntrypoint().fetch(request);
  },
};
