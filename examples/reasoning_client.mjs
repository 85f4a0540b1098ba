// Streams a question through the official OpenAI SDK and prints the reasoning and the answer as they arrive.
// npm install openai && node examples/reasoning_client.mjs [question]
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.BASE_URL ?? "http://localhost:8000/v1", apiKey: process.env.API_KEY ?? "FAKE_KEY" });
const question = process.argv[2] ?? "What is 7268 - 9461?";

const stream = await client.chat.completions.create({
  model: "reasoningserve-default",
  messages: [{ role: "user", content: question }],
  stream: true,
});

let phase = null;
for await (const chunk of stream) {
  const delta = chunk.choices[0]?.delta ?? {};
  if (delta.reasoning_content) {
    if (phase !== "reasoning") process.stdout.write("--- reasoning ---\n");
    phase = "reasoning";
    process.stdout.write(delta.reasoning_content);
  }
  if (delta.content) {
    if (phase !== "content") process.stdout.write("--- answer ---\n");
    phase = "content";
    process.stdout.write(delta.content);
  }
}
process.stdout.write("\n");
