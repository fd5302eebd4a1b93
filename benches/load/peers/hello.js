// Static hello: the smallest possible Worker, answered by one long-lived isolate.
export default {
  fetch() {
    return new Response('hello');
  },
};
