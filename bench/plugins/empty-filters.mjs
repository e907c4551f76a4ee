// Stream filters that do nothing, for bench/stream-filter-cost.ts: what one filter costs
// a request when it answers synchronously, and when it answers with a promise.
const empty = (type, onReceive) => ({
  type,
  parseConfig: () => ({ onReceive }),
  // Stateless: the same filter object every request, as a well-written filter does.
  createFilters: (filter, chain) => chain.addReceiver(filter),
});

export default {
  name: 'bench-empty-filters',
  streamFilters: [
    empty('bench_sync', () => 'Continue'),
    empty('bench_async', async () => 'Continue'),
  ],
};
