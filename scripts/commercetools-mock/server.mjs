// The commercetools API emulator on 127.0.0.1: `node server.mjs PORT` (0: any free port).
// Prints "listening PORT" once it accepts requests. Bearer tokens from /oauth/token are checked.
import { CommercetoolsMock } from "@labdigital/commercetools-mock";

const port = Number(process.argv[2] ?? 0);
const mock = new CommercetoolsMock({ enableAuthentication: true, validateCredentials: true, silent: true });
await mock.app.listen({ port, host: "127.0.0.1" });
console.log(`listening ${mock.app.server.address().port}`);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, async () => {
    await mock.app.close();
    process.exit(0);
  });
}
