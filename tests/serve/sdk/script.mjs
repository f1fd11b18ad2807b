// The official OpenAI Node SDK, unchanged, against bantam serve on 127.0.0.1:PORT.
// Prints one JSON object with what each call returned; sdk_test.cpp checks it.
import OpenAI from 'openai';

const port = process.argv[2];
const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 60000 });
const out = {};

const models = await client.models.list();
out.models = models.data.map((m) => m.id);
const model = out.models[0];
const messages = [{ role: 'user', content: 'Tell me a story about a cat.' }];

const chat = await client.chat.completions.create({ model, messages, max_tokens: 24, temperature: 0 });
out.chat = { content: chat.choices[0].message.content, finish_reason: chat.choices[0].finish_reason, usage: chat.usage };

const stream = await client.chat.completions.create({ model, messages, max_tokens: 24, temperature: 0, stream: true });
let streamed = '';
for await (const chunk of stream) streamed += chunk.choices[0]?.delta?.content ?? '';
out.stream = streamed;

// A streamed tool call, assembled by the SDK's stream helper.
const weather = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Weather forecast for a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string', maxLength: 12 }, days: { type: 'integer' } },
      required: ['city', 'days'],
    },
  },
};
const runner = client.beta.chat.completions.stream({
  model,
  messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
  tools: [weather],
  tool_choice: { type: 'function', function: { name: 'get_weather' } },
  max_tokens: 100,
  temperature: 0,
});
const final = await runner.finalChatCompletion();
out.tool = { finish_reason: final.choices[0].finish_reason, calls: final.choices[0].message.tool_calls };

const embedding = await client.embeddings.create({ model, input: ['a cat', 'a dog'] });
out.embeddings = embedding.data.map((d) => d.embedding.length);

try {
  await client.chat.completions.create({ model, messages: [{ role: 'wizard', content: 'hi' }] });
  out.error = null;
} catch (e) {
  out.error = { status: e.status, param: e.param, code: e.code };
}

console.log(JSON.stringify(out));
