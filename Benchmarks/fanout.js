// fanout.js: Promise.allSettled over N async functions that each await a 10 ms setTimeout.
const n = Number(process.argv[2] || 10000);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
async function main() {
  const tasks = [];
  for (let i = 0; i < n; i++) tasks.push(async () => { await sleep(10); return i; });
  const t = performance.now();
  const results = await Promise.allSettled(tasks.map((f) => f()));
  const ms = performance.now() - t;
  if (results.length !== n || results[n - 1].value !== n - 1) throw new Error("wrong results");
  console.log(JSON.stringify({ ms }));
}
main();
