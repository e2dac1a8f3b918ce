/**
 * Just enough of the protobuf wire format, and of the OTLP messages' field
 * numbers (opentelemetry-proto, collector/{trace,metrics}/v1), to read an
 * `application/x-protobuf` export back into the shape of its JSON encoding —
 * the parts the tests look at: resources, span names and attributes, metric
 * names and number data points of sums and gauges. The exporters ship an
 * encoder only, so the receiver needs a reader of its own.
 */

interface Field {
  readonly no: number
  readonly varint?: bigint
  readonly fixed64?: DataView
  readonly bytes?: Uint8Array
}

const fields = (buffer: Uint8Array): Array<Field> => {
  const out: Array<Field> = []
  let at = 0
  const varint = () => {
    let value = 0n
    let shift = 0n
    for (;;) {
      if (at >= buffer.length) throw new Error("truncated varint")
      const byte = buffer[at++]!
      value |= BigInt(byte & 0x7f) << shift
      if ((byte & 0x80) === 0) return value
      shift += 7n
    }
  }
  while (at < buffer.length) {
    const key = Number(varint())
    const no = key >>> 3
    switch (key & 7) {
      case 0:
        out.push({ no, varint: varint() })
        break
      case 1:
        out.push({ no, fixed64: new DataView(buffer.buffer, buffer.byteOffset + at, 8) })
        at += 8
        break
      case 2: {
        const length = Number(varint())
        out.push({ no, bytes: buffer.subarray(at, at + length) })
        at += length
        break
      }
      case 5:
        at += 4
        break
      default:
        throw new Error(`unsupported wire type ${key & 7}`)
    }
  }
  if (at !== buffer.length) throw new Error("truncated message")
  return out
}

const messages = (buffer: Uint8Array, no: number) =>
  fields(buffer).filter((f) => f.no === no && f.bytes).map((f) => f.bytes!)
const message = (buffer: Uint8Array, no: number) => messages(buffer, no)[0]
const text = (buffer: Uint8Array | undefined, no: number) => {
  const bytes = buffer && message(buffer, no)
  return bytes && new TextDecoder().decode(bytes)
}

/** KeyValue { key = 1; AnyValue value = 2 { string_value = 1 } }, as the JSON encoding has it. */
const keyValues = (buffer: Uint8Array, no: number) =>
  messages(buffer, no).map((kv) => ({ key: text(kv, 1)!, value: { stringValue: text(message(kv, 2), 1) } }))

/** Resource { attributes = 1 } */
const resource = (buffer: Uint8Array | undefined) => ({ attributes: buffer ? keyValues(buffer, 1) : [] })

/** ExportTraceServiceRequest { ResourceSpans resource_spans = 1 { resource = 1; ScopeSpans scope_spans = 2 { spans = 2 } } } */
export const decodeTraces = (body: Uint8Array) => ({
  resourceSpans: messages(body, 1).map((rs) => ({
    resource: resource(message(rs, 1)),
    scopeSpans: messages(rs, 2).map((ss) => ({
      // Span { name = 5; attributes = 9 }
      spans: messages(ss, 2).map((span) => ({ name: text(span, 5), attributes: keyValues(span, 9) }))
    }))
  }))
})

/** NumberDataPoint { as_double = 4 (fixed64); as_int = 6 (sfixed64); attributes = 7 } */
const dataPoint = (point: Uint8Array) => {
  const all = fields(point)
  const double = all.find((f) => f.no === 4)?.fixed64?.getFloat64(0, true)
  const int = all.find((f) => f.no === 6)?.fixed64?.getBigInt64(0, true)
  return {
    attributes: keyValues(point, 7),
    ...(double === undefined ? {} : { asDouble: double }),
    ...(int === undefined ? {} : { asInt: Number(int) })
  }
}

/**
 * ExportMetricsServiceRequest { ResourceMetrics resource_metrics = 1 { resource = 1;
 * ScopeMetrics scope_metrics = 2 { metrics = 2 } } }; Metric { name = 1; gauge = 5; sum = 7 };
 * Sum { data_points = 1; is_monotonic = 3 }; Gauge { data_points = 1 }.
 */
export const decodeMetrics = (body: Uint8Array) => ({
  resourceMetrics: messages(body, 1).map((rm) => ({
    resource: resource(message(rm, 1)),
    scopeMetrics: messages(rm, 2).map((sm) => ({
      metrics: messages(sm, 2).map((metric) => {
        const sum = message(metric, 7)
        const gauge = message(metric, 5)
        return {
          name: text(metric, 1),
          ...(sum === undefined ? {} : {
            sum: {
              isMonotonic: fields(sum).some((f) => f.no === 3 && f.varint === 1n),
              dataPoints: messages(sum, 1).map(dataPoint)
            }
          }),
          ...(gauge === undefined ? {} : { gauge: { dataPoints: messages(gauge, 1).map(dataPoint) } })
        }
      })
    }))
  }))
})
