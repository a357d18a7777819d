// Regenerates src/schema.d.ts from the server's OpenAPI document, as `im-access openapi`
// prints it. The binary: $IM_ACCESS_BIN, else the repository's debug build.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import openapiTS, { astToString } from "openapi-typescript";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const bin =
  process.env.IM_ACCESS_BIN ||
  join(root, "..", "..", process.env.CARGO_TARGET_DIR || "target", "debug", "im-access");

const document = JSON.parse(execFileSync(bin, ["openapi"], { encoding: "utf8" }));
const ast = await openapiTS(document);
const header = `// Generated from im-access's OpenAPI document by openapi-typescript: do not edit.
// Regenerate with \`npm run generate\` in clients/typescript (IM_ACCESS_BIN names the binary).

`;
writeFileSync(join(root, "src", "schema.d.ts"), header + astToString(ast));
console.log(`src/schema.d.ts: from ${bin} openapi`);
