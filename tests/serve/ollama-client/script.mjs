// The official ollama JavaScript client (npm `ollama`), unchanged, against a running bantam serve.
// Usage: node script.mjs BASE_URL. Prints one JSON object with what each call returned;
// ollama_client_test.cpp starts the server and checks it.
import { Ollama } from 'ollama';

const host = process.argv[2];
const ollama = new Ollama({ host });
const out = {};

out.version = (await ollama.version()).version;
const list = await ollama.list();
out.models = list.models.map((m) => m.name);
const model = out.models[0];
const shown = await ollama.show({ model });
out.show = { family: shown.details.family, architecture: shown.model_info['general.architecture'] };

const messages = [{ role: 'user', content: 'Tell me a story about a cat.' }];
const options = { num_predict: 16, temperature: 0 };
const chat = await ollama.chat({ model, messages, options });
out.chat = { content: chat.message.content, done_reason: chat.done_reason, eval_count: chat.eval_count };

let streamed = '';
let frames = 0;
let last = null;
for await (const part of await ollama.chat({ model, messages, options, stream: true })) {
  streamed += part.message.content;
  frames += 1;
  last = part;
}
out.chat_stream = { content: streamed, frames, done: last.done, eval_count: last.eval_count };

const generated = await ollama.generate({ model, prompt: 'Once upon a time', options });
out.generate = { response: generated.response, eval_count: generated.eval_count };
let generatedStream = '';
for await (const part of await ollama.generate({ model, prompt: 'Once upon a time', options, stream: true })) {
  generatedStream += part.response;
}
out.generate_stream = generatedStream;

const schema = {
  type: 'object',
  properties: { mood: { enum: ['happy', 'sad'] }, name: { type: 'string', maxLength: 8 } },
  required: ['mood', 'name'],
};
const structured = await ollama.generate({
  model,
  prompt: 'Describe a cat.',
  format: schema,
  options: { num_predict: 64, temperature: 0 },
});
out.structured = JSON.parse(structured.response);

const embedded = await ollama.embed({ model, input: ['a cat', 'a dog'] });
out.embed = embedded.embeddings.map((e) => e.length);
out.embeddings = (await ollama.embeddings({ model, prompt: 'a cat' })).embedding.length;

out.ps = (await ollama.ps()).models.map((m) => m.name);

try {
  await ollama.chat({ model: 'no-such-model', messages });
  out.error = null;
} catch (e) {
  out.error = { name: e.name, status_code: e.status_code, error: e.error };
}

console.log(JSON.stringify(out));
