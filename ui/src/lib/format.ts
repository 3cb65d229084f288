// Formatting at the edge: bytes stay integers everywhere else (GiB = 2^30 bytes).

const GIB = 2 ** 30;

const MIB = 2 ** 20;

/** "21.37 GiB": GiB with two decimals; below 1 GiB (zero aside) "512.0 MiB", so a small size does not read
 *  "0.00 GiB". */
export function formatGiB(bytes: number): string {
  if (bytes !== 0 && Math.abs(bytes) < GIB) return `${(bytes / MIB).toFixed(1)} MiB`;
  return `${(bytes / GIB).toFixed(2)} GiB`;
}

/** "22,945,263,616 bytes": the exact figure, for tooltips. */
export function formatBytesExact(bytes: number): string {
  return `${Math.round(bytes).toLocaleString("en-US")} bytes`;
}
