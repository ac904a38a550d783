/**
 * How a suite that cannot run here says so: a loud banner on stderr (jest hides the console output of a
 * suite whose tests are all skipped), so a skipped run is never mistaken for a green one. CI runs as root
 * with the Pulumi CLI: there nothing is skipped.
 */

/** Lines framed by a bar of #, on stderr. */
export function banner(lines: string[]): void {
  const bar = "#".repeat(78);
  process.stderr.write(`\n${bar}\n${lines.map((l) => `#  ${l}`).join("\n")}\n${bar}\n\n`);
}

export const isRoot = process.platform === "linux" && process.getuid?.() === 0;

/**
 * `describe` as root, where the namespace lab can be built (network namespaces, veths and nftables need
 * CAP_NET_ADMIN); anywhere else `describe.skip`, after a banner naming `what` is skipped.
 */
export function rootSuite(what: string): jest.Describe {
  if (isRoot) return describe;
  banner([`SKIPPED: ${what} need root (CI runs as root)`]);
  return describe.skip;
}
