/**
 * Synthetic Standard MIDI Files for the Orpheus emulator, and the small
 * reader that checks the MIDI a client sends.
 *
 * Orpheus spends about three tokens per note (onset time, duration with patch,
 * pitch with velocity), so the emulator writes `floor(tokens / 3)` notes for a
 * variation of `tokens` tokens and counts three tokens per note-on it reads.
 */
import { Buffer } from "node:buffer"

/** How the notes are laid out: chords on a piano, one voice, or drums on channel 10. */
export type Voice = "poly" | "mono" | "drums"

/** Tokens per note, in both directions. */
export const tokensPerNote = 3

const ticksPerQuarter = 480

const u16 = (n: number) => [(n >>> 8) & 0xff, n & 0xff]
const u32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]

/** A MIDI variable-length quantity. */
const vlq = (n: number): Array<number> => {
  const bytes = [n & 0x7f]
  for (let rest = n >>> 7; rest > 0; rest >>>= 7) bytes.unshift((rest & 0x7f) | 0x80)
  return bytes
}

const pick = (uniform: () => number, from: number, to: number) => from + Math.floor(uniform() * (to - from + 1))

/**
 * A format-0 SMF of `floor(tokens / 3)` notes, every choice drawn from
 * `uniform`: the same draws give the same bytes.
 */
export const synthesize = (uniform: () => number, tokens: number, voice: Voice): Uint8Array => {
  const channel = voice === "drums" ? 9 : 0
  const events: Array<number> = [
    // tempo 120 bpm
    0x00,
    0xff,
    0x51,
    0x03,
    0x07,
    0xa1,
    0x20
  ]
  if (voice !== "drums") events.push(0x00, 0xc0 | channel, voice === "mono" ? 73 : 0)
  let notes = Math.floor(tokens / tokensPerNote)
  let rest = 0
  while (notes > 0) {
    const size = voice === "poly" ? Math.min(notes, pick(uniform, 1, 3)) : 1
    const root = voice === "drums" ? pick(uniform, 35, 81) : pick(uniform, 48, 84)
    const length = (voice === "drums" ? 1 : pick(uniform, 1, 4)) * (ticksPerQuarter / 4)
    const velocity = pick(uniform, 40, 120)
    const pitches = Array.from({ length: size }, (_, i) => Math.min(127, root + [0, 4, 7][i]!))
    pitches.forEach((pitch, i) => events.push(...vlq(i === 0 ? rest : 0), 0x90 | channel, pitch, velocity))
    pitches.forEach((pitch, i) => events.push(...vlq(i === 0 ? length : 0), 0x80 | channel, pitch, 0))
    rest = pick(uniform, 0, 1) * (ticksPerQuarter / 4)
    notes -= size
  }
  events.push(...vlq(rest), 0xff, 0x2f, 0x00)
  return Uint8Array.from([
    ...[0x4d, 0x54, 0x68, 0x64], // MThd
    ...u32(6),
    ...u16(0),
    ...u16(1),
    ...u16(ticksPerQuarter),
    ...[0x4d, 0x54, 0x72, 0x6b], // MTrk
    ...u32(events.length),
    ...events
  ])
}

/** What the reader found in a valid file. */
export interface Summary {
  readonly tracks: number
  readonly notes: number
}

const ascii = (bytes: Uint8Array, at: number) => String.fromCharCode(...bytes.subarray(at, at + 4))
const read32 = (bytes: Uint8Array, at: number) =>
  ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0

/** Reads the events of one track, counting note-ons with a velocity; the reason it cannot, else. */
const readTrack = (bytes: Uint8Array, from: number, to: number): number | string => {
  let at = from
  let notes = 0
  let status = 0
  const readVlq = () => {
    let value = 0
    for (let i = 0; i < 4; i++) {
      if (at >= to) return undefined
      const byte = bytes[at++]!
      value = (value << 7) | (byte & 0x7f)
      if ((byte & 0x80) === 0) return value
    }
    return undefined
  }
  while (at < to) {
    if (readVlq() === undefined) return "bad delta time"
    if (at >= to) return "track ends inside an event"
    if (bytes[at]! & 0x80) status = bytes[at++]!
    else if (status === 0) return "running status without a status byte"
    if (status === 0xff) {
      at++
      const length = readVlq()
      if (length === undefined || at + length > to) return "meta event runs past the end of the track"
      at += length
      status = 0
    } else if (status === 0xf0 || status === 0xf7) {
      const length = readVlq()
      if (length === undefined || at + length > to) return "sysex runs past the end of the track"
      at += length
      status = 0
    } else {
      const kind = status & 0xf0
      const size = kind === 0xc0 || kind === 0xd0 ? 1 : 2
      if (at + size > to) return "track ends inside an event"
      if (kind === 0x90 && bytes[at + 1]! > 0) notes++
      at += size
    }
  }
  return notes
}

/**
 * Reads a Standard MIDI File: `MThd` with a 6-byte header, then its tracks.
 * Returns what it found or the reason the bytes are not a MIDI file (in the
 * words of mido, which the real services use).
 */
export const read = (bytes: Uint8Array): Summary | string => {
  if (bytes.length < 14 || ascii(bytes, 0) !== "MThd") return "MThd not found. Probably not a MIDI file"
  const headerLength = read32(bytes, 4)
  if (headerLength < 6) return "MThd chunk is too short"
  const declared = (bytes[10]! << 8) | bytes[11]!
  let at = 8 + headerLength
  let tracks = 0
  let notes = 0
  while (at + 8 <= bytes.length) {
    const length = read32(bytes, at + 4)
    if (at + 8 + length > bytes.length) return "data ends before the end of a chunk"
    if (ascii(bytes, at) === "MTrk") {
      const found = readTrack(bytes, at + 8, at + 8 + length)
      if (typeof found === "string") return found
      notes += found
      tracks++
    }
    at += 8 + length
  }
  if (tracks < declared) return `expected ${declared} tracks, found ${tracks}`
  return { tracks, notes }
}

/** Standard base64 with padding; whitespace around it is stripped (as the services do). */
export const decodeBase64 = (text: string): Uint8Array | string => {
  const trimmed = text.trim()
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(trimmed)) return "Only base64 data is allowed"
  if (trimmed.length % 4 !== 0) return "Incorrect padding"
  return new Uint8Array(Buffer.from(trimmed, "base64"))
}

/** Standard base64 with padding. */
export const encodeBase64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64")
