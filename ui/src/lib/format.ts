// Formatting at the edge: bytes stay integers everywhere else (GiB = 2^30 bytes).

const GIB = 2 ** 30;

/** "21.37 GiB": GiB with two decimals. */
export function formatGiB(bytes: number): string {
  return `${(bytes / GIB).toFixed(2)} GiB`;
}

/** "22,945,263,616 bytes": the exact figure, for tooltips. */
export function formatBytesExact(bytes: number): string {
  return `${Math.round(bytes).toLocaleString("en-US")} bytes`;
}
