// http-get.js: Promise.allSettled over N fetch calls to one URL (bodies read), timed inside.
const url = process.argv[2];
const n = Number(process.argv[3] || 1000);
async function main() {
  const t = performance.now();
  const results = await Promise.allSettled(
    Array.from({ length: n }, () => fetch(url).then(async (r) => (await r.text()).length)));
  const ms = performance.now() - t;
  const failed = results.filter((r) => r.status !== "fulfilled" || !(r.value > 0));
  if (failed.length) throw new Error(`${failed.length} of ${n} fetches failed: ${failed[0].reason}`);
  console.log(JSON.stringify({ ms }));
}
main();
