/**
 * node:crypto, loaded on first use. Loading it costs about 10 ms, a tenth of Node's own start,
 * and the CLI's entry reaches modules that hash or draw random bytes (files.ts, matrix/cells.ts)
 * without calling them before a command runs: `--help` does not pay it. The bundle keeps a
 * require() lazy; an import would load the module at start.
 */
import type * as Crypto from 'node:crypto';

let cryptoModule: typeof Crypto | undefined;

export function nodeCrypto(): typeof Crypto {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  cryptoModule ??= require('node:crypto') as typeof Crypto;
  return cryptoModule;
}
