// Shared helpers for the Node conformance scripts. Input: one JSON argument; output: one JSON line.
export const input = JSON.parse(process.argv[2] ?? "{}");

export function authConfig(extra) {
  const host = new URL(input.authority).host;
  return {
    auth: { authority: input.authority, knownAuthorities: [host], ...extra },
    system: { loggerOptions: { loggerCallback() {}, piiLoggingEnabled: false } },
  };
}

export function done(result) {
  process.stdout.write(JSON.stringify(result) + "\n");
}

export function fail(e) {
  process.stdout.write(JSON.stringify({ error: String(e?.errorCode ?? e?.name ?? "error"), message: String(e?.message ?? e), codes: e?.errorNo ?? null }) + "\n");
  process.exitCode = 1;
}
