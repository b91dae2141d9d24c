import { readFileSync } from "fs";
import type { Point } from "./geometry";

/** Returns the Euclidean distance between two points. */
export function distance(p: Point, q: Point): number {
  return Math.hypot(p.x - q.x, p.y - q.y);
}

/** Sums an array of numbers with reduce. */
export const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

/** Prints the point and declares that it returns nothing. */
function show(p: Point): void {
  console.log(p);
}

/** Loads the configuration file from the disk. */
function load(path: string): string {
  return readFileSync(path, "utf8");
}

function undocumented(a: number): number {
  return a;
}
