const fs = require('fs');
const { spawnSync } = require('child_process');
import { clamp as limit } from './numbers.js';

/**
 * Adds two numbers and returns their sum.
 * @param {number} a
 * @param {number} b
 */
export function add(a, b) {
  return a + b;
}

/** Clamps every value of a list between lo and hi. */
const clampAll = (xs, lo, hi) => xs.map((x) => limit(x, lo, hi));

function undocumented(a) {
  return a * 2;
}

// A line comment is not JSDoc, so this is skipped.
function lineComment(a) {
  return a;
}

/** Logs the value to the console and returns nothing. */
function logValue(value) {
  console.log(value);
}

/** Returns a value only from a nested callback function. */
function nestedOnly(xs) {
  xs.forEach(function (x) {
    return x;
  });
}

/** Returns the answer to everything, without arguments. */
function answer() {
  return 42;
}

/** Reads a text file from the disk and returns it. */
function readText(path) {
  return fs.readFileSync(path, 'utf8');
}

/** Runs a shell command and returns its output. */
function run(command) {
  return spawnSync(command).stdout;
}

/** Returns the home directory of the current user. */
function home(user) {
  return process.env.HOME + user;
}

/** Short. */
function tiny(a) {
  return a;
}

/** Doubles a number; TODO handle strings as well. */
function double(a) {
  return 2 * a;
}

/** This comment is separated from its function by a blank line. */

function detached(a) {
  return a;
}
