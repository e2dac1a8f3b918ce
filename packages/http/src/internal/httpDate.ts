/**
 * HTTP-dates in the three forms RFC 9110 §5.6.7 says a recipient must accept.
 * Names are matched case-insensitively (harmless leniency); everything else is
 * strict: exact spacing, two-digit fields, `GMT`, and a real calendar date.
 */

const months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
const shortDays = "(?:mon|tue|wed|thu|fri|sat|sun)"
const longDays = "(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
const month = "(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
const time = "(\\d{2}):(\\d{2}):(\\d{2})"

const imfFixdate = new RegExp(`^${shortDays}, (\\d{2}) ${month} (\\d{4}) ${time} gmt$`, "i")
const rfc850 = new RegExp(`^${longDays}, (\\d{2})-${month}-(\\d{2}) ${time} gmt$`, "i")
const asctime = new RegExp(`^${shortDays} ${month} (\\d{2}| \\d) ${time} (\\d{4})$`, "i")

/** What {@link parse} gives: a moment, or why the text is not one. */
export type Parsed = { readonly epochMillis: number } | { readonly error: string }

/** Date.UTC maps years 0-99 to 1900-1999; setUTCFullYear does not. */
const utc = (
  year: number,
  monthIndex: number,
  day: number,
  hour: number,
  minute: number,
  second: number
): Parsed => {
  // 60 is a leap second (RFC 9110 allows it): it rolls over into the next minute.
  if (hour > 23 || minute > 59 || second > 60) return { error: "time of day out of range" }
  const date = new Date(0)
  date.setUTCFullYear(year, monthIndex, day)
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== monthIndex || date.getUTCDate() !== day) {
    return { error: "no such calendar date" }
  }
  date.setUTCHours(hour, minute, second, 0)
  return { epochMillis: date.getTime() }
}

const monthIndex = (name: string): number => months.indexOf(name.toLowerCase())

/**
 * RFC 9110: a two-digit year that appears to be more than 50 years in the
 * future is the most recent past year with the same last two digits.
 */
const twoDigitYear = (yy: number, nowMillis: number): number => {
  const current = new Date(nowMillis).getUTCFullYear()
  const candidate = current - (current % 100) + yy
  return candidate > current + 50 ? candidate - 100 : candidate
}

/**
 * Parses an HTTP-date into epoch milliseconds, or says why it is not one.
 * `undefined` means the text does not look like any of the three forms.
 */
export const parse = (text: string, nowMillis: number): Parsed | undefined => {
  let match = imfFixdate.exec(text)
  if (match !== null) {
    const [, day, mon, year, hh, mm, ss] = match
    return utc(Number(year), monthIndex(mon!), Number(day), Number(hh), Number(mm), Number(ss))
  }
  match = rfc850.exec(text)
  if (match !== null) {
    const [, day, mon, yy, hh, mm, ss] = match
    if (!Number.isFinite(nowMillis)) return { error: "the current time is not finite" }
    const year = twoDigitYear(Number(yy), nowMillis)
    return utc(year, monthIndex(mon!), Number(day), Number(hh), Number(mm), Number(ss))
  }
  match = asctime.exec(text)
  if (match !== null) {
    const [, mon, day, hh, mm, ss, year] = match
    return utc(Number(year), monthIndex(mon!), Number(day!.trim()), Number(hh), Number(mm), Number(ss))
  }
  return undefined
}

const dayNames = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
const longDayNames = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
const monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
const pad = (n: number, width = 2) => String(n).padStart(width, "0")

/**
 * Formats epoch milliseconds (whole seconds are kept) in one of the three forms.
 */
export const format = (epochMillis: number, form: "imf-fixdate" | "rfc850" | "asctime"): string => {
  const d = new Date(epochMillis)
  const clock = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
  const mon = monthNames[d.getUTCMonth()]
  switch (form) {
    case "imf-fixdate":
      return `${dayNames[d.getUTCDay()]}, ${pad(d.getUTCDate())} ${mon} ${pad(d.getUTCFullYear(), 4)} ${clock} GMT`
    case "rfc850":
      return `${longDayNames[d.getUTCDay()]}, ${pad(d.getUTCDate())}-${mon}-${
        pad(d.getUTCFullYear() % 100)
      } ${clock} GMT`
    case "asctime":
      return `${dayNames[d.getUTCDay()]} ${mon} ${String(d.getUTCDate()).padStart(2, " ")} ${clock} ${
        pad(d.getUTCFullYear(), 4)
      }`
  }
}
