// Formatting at the edge: bytes arrive as integers from the backend and are only turned into text here.

const GIB = 1024 ** 3;

/** Bytes as GiB (2^30) with two decimals: "21.37 GiB". */
export function formatGiB(bytes: number): string {
  return `${(bytes / GIB).toFixed(2)} GiB`;
}

/** The exact byte count, for tooltips: "22,945,263,616 bytes". */
export function formatBytesExact(bytes: number): string {
  return `${Math.round(bytes).toLocaleString("en-US")} bytes`;
}
