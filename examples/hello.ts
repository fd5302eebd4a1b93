// A tenant's module: `stockade run examples/hello.ts --arg '{"name":"world"}'`
import { greet } from "./lib/greet.ts";

interface Arg {
  name: string;
}

export default async (arg: Arg) => {
  console.log("running in a fresh V8 isolate");
  await new Promise((resolve) => setTimeout(resolve, 5));
  const id = crypto.randomUUID();
  return { message: greet(arg?.name ?? "stranger"), requestId: id.length };
};
