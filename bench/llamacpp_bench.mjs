// llama.cpp on the same machine, for bench/RESULTS.md: the prebuilt CPU llama.cpp of the npm
// package node-llama-cpp (it picks the build for this CPU, e.g. its Zen 4 one) timed like
// llama-bench: pp512 as one 512-token batch with logits for the last token only, tg128 as 128
// single-token evaluations from an empty context, each computing the output head (the logit of
// one token is passed back, so no vocabulary-sized copy is timed). The first repetition warms up.
// Prints one llama-bench-like JSON object per test. Run through scripts/llamacpp-bench.sh.
import {getLlama} from "node-llama-cpp";

const [model, threadList, repsArg] = process.argv.slice(2);
const reps = Number(repsArg ?? 3);
const llama = await getLlama({gpu: false, logLevel: "error"});
const loaded = await llama.loadModel({modelPath: model});
const tokens = n => Array.from({length: n}, (_, i) => 100 + ((i * 7919) % 20000));
const seconds = start => Number(process.hrtime.bigint() - start) / 1e9;

async function timed(threads, run) {
  const context = await loaded.createContext({contextSize: 1024, threads, batchSize: 512, flashAttention: true});
  const sequence = context.getSequence();
  const start = process.hrtime.bigint();
  await run(sequence);
  const elapsed = seconds(start);
  await context.dispose();
  return elapsed;
}

const prompt = seq => seq.controlledEvaluate(tokens(512).map((t, i) => (i === 511 ? [t, {generateNext: {logits: {filter: {tokens: [0]}}}}] : t)));
const generate = async seq => {
  for (const t of tokens(128)) await seq.controlledEvaluate([[t, {generateNext: {logits: {filter: {tokens: [0]}}}}]]);
};

for (const threads of threadList.split(",").map(Number)) {
  for (const [name, n_prompt, n_gen, run] of [["pp512", 512, 0, prompt], ["tg128", 0, 128, generate]]) {
    const samples = [];
    for (let r = 0; r <= reps; ++r) {
      const t = await timed(threads, run);
      if (r > 0) samples.push((n_prompt + n_gen) / t);
    }
    const avg = samples.reduce((a, b) => a + b, 0) / samples.length;
    const stddev = Math.sqrt(samples.reduce((a, b) => a + (b - avg) ** 2, 0) / Math.max(1, samples.length - 1));
    console.log(JSON.stringify({model_filename: model, build: "node-llama-cpp", test: name, n_prompt, n_gen,
                                n_threads: threads, avg_ts: avg, stddev_ts: stddev, samples_ts: samples}));
  }
}
process.exit(0);
