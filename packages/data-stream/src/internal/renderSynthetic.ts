/**
 * The built-in `synthetic` dataset: procedurally rendered, labeled images, deterministic by seed, at any
 * size (≥ 8×8, square or not), with no files shipped.
 *
 * Image `index` of the set with seed `seed` is drawn from its own generator `new Random(seed, index)`, so it
 * is the same whatever other images are rendered and in whatever order. Its label is `index % numClasses`
 * (exact class balance); the first `numClasses` entries of {@link SYNTHETIC_CLASSES} are used.
 *
 * Each image is one shape on a plain background, and the classes differ only in SHAPE / STRUCTURE: circle
 * (disc), square, triangle, cross (plus), ring (annulus), star (five points), stripes (three parallel bars),
 * checker (4×4 checkerboard patch), l-shape and dots (3×3 grid of discs).
 *
 * Random per image, from the same distributions whatever the class (the draws never look at it):
 * - foreground area: a fraction of min(height, width)² uniform in [AREA_MIN, AREA_TOP ≈ 0.17]. Each shape's
 *   scale follows from its exact unit area, so the number of foreground pixels has the same distribution in
 *   every class and a colour histogram cannot read the class off the foreground/background pixel ratio;
 * - an area-preserving aspect stretch (up to ±15 %), rotation (uniform) and position (uniform, with the
 *   shape inside the image);
 * - two colours, independent and uniform in the RGB cube, the pair redrawn until their luminance differs by
 *   at least MIN_CONTRAST (so the shape survives grayscale conversion); the lighter one is the shape. So
 *   colour — which SimCLR's colour augmentations remove — carries no information about the label;
 * - a linear illumination gradient and a little uniform per-pixel noise (from an integer hash: cheap and
 *   deterministic).
 *
 * What is left for a classifier is the shape, seen at a random place, angle and size. A linear probe on raw
 * pixels does poorly (the class-mean images differ only in how far the light mass spreads, ≈ 20 % accuracy
 * at 32×32), while an encoder tolerant to translation and rotation separates the classes easily (a small
 * CNN reaches ≈ 100 %); tools/fixtures/synthetic_probe.py measures both.
 *
 * Edges are antialiased: a pixel whose corners (and, for features near pixel size, centre) do not all agree
 * is supersampled on a 4×4 grid. Plain JavaScript arithmetic throughout; the same engine gives the same bytes.
 */
import { Random } from "@simclr/core"

/** The ten class names, in label order. */
export const SYNTHETIC_CLASSES: ReadonlyArray<string> = [
  "circle",
  "square",
  "triangle",
  "cross",
  "ring",
  "star",
  "stripes",
  "checker",
  "l-shape",
  "dots"
]

/** Foreground area as a fraction of min(height, width)² (the top is lowered to AREA_TOP if a shape would not fit). */
const AREA_MIN = 0.06
const AREA_MAX = 0.17
/** Log of the largest area-preserving aspect stretch. */
const STRETCH = 0.15
/** Smallest luminance difference (0..1) between foreground and background. */
const MIN_CONTRAST = 0.3
/**
 * Largest illumination slope (relative change per min(height, width), so up to ±35 % at the far corners) and
 * largest noise amplitude (0..1 scale). Besides realism they spread each colour over several histogram bins,
 * which hides the antialiased edge pixels (blends of the two colours, more of them for shapes with a long
 * boundary) from colour-histogram probes.
 */
const MAX_GRADIENT = 0.5
const MAX_NOISE = 0.06
/** Supersampling grid per axis for edge pixels. */
const SUPERSAMPLE = 4

const SQRT3 = Math.sqrt(3)
const STAR_INNER = 0.45
/** Unit vectors towards the five tips, (cos, sin) pairs. */
const STAR_TIPS = [0, 1, 2, 3, 4].flatMap((k) => [Math.cos((2 * Math.PI * k) / 5), Math.sin((2 * Math.PI * k) / 5)])
// Star edge from the outer vertex (1, 0) to the inner vertex at angle π/5, as a·x + b·y ≤ c.
const STAR_A = STAR_INNER * Math.sin(Math.PI / 5)
const STAR_B = 1 - STAR_INNER * Math.cos(Math.PI / 5)
const STAR_C = STAR_A
const DOT_SPACING = 0.75
const DOT_RADIUS = 0.24

/**
 * Whether (u, v) in the unit frame (roughly [-1, 1]²) is inside the shape of class `kind` (label order of
 * SYNTHETIC_CLASSES). One function with a switch keeps the hot call site monomorphic.
 */
const inside = (kind: number, u: number, v: number): boolean => {
  const au = Math.abs(u)
  const av = Math.abs(v)
  switch (kind) {
    case 0: // circle
      return u * u + v * v <= 1
    case 1: // square
      return au <= 1 && av <= 1
    case 2: // triangle (equilateral, inscribed in the unit circle)
      return v >= -0.5 && SQRT3 * au + v <= 1
    case 3: // cross (arms 0.6 wide)
      return (au <= 1 && av <= 0.3) || (av <= 1 && au <= 0.3)
    case 4: {
      // ring (annulus, inner radius 0.55)
      const r2 = u * u + v * v
      return r2 <= 1 && r2 >= 0.55 * 0.55
    }
    case 5: {
      // star: in the frame of the nearest tip (a along it, b across), test the edge from the tip (1, 0) to
      // the inner vertex at angle π/5
      let a = -2
      let t = 0
      for (let k = 0; k < 5; k++) {
        const d = STAR_TIPS[2 * k]! * u + STAR_TIPS[2 * k + 1]! * v
        if (d > a) {
          a = d
          t = k
        }
      }
      const b = Math.abs(STAR_TIPS[2 * t]! * v - STAR_TIPS[2 * t + 1]! * u)
      return STAR_A * a + STAR_B * b <= STAR_C
    }
    case 6: // stripes: three bars 0.4 wide across the square, 0.4 apart
      return au <= 1 && av <= 1 && (u + 1) % 0.8 <= 0.4
    case 7: // checker: 4×4 cells of side 0.5, eight of them foreground
      return au < 1 && av < 1 && (Math.floor((u + 1) * 2) + Math.floor((v + 1) * 2)) % 2 === 0
    case 8: // l-shape: two bars 0.8 wide along two sides of the square
      return au <= 1 && av <= 1 && (u <= -0.2 || v <= -0.2)
    default: {
      // dots: 3×3 grid of discs
      const du = u - DOT_SPACING * Math.max(-1, Math.min(1, Math.round(u / DOT_SPACING)))
      const dv = v - DOT_SPACING * Math.max(-1, Math.min(1, Math.round(v / DOT_SPACING)))
      return du * du + dv * dv <= DOT_RADIUS * DOT_RADIUS
    }
  }
}

/**
 * Narrowest bar, gap or disc of each shape in the unit frame (sharp tips aside): where it is wider than
 * 1.5 pixels, a pixel whose four corners agree is uniform and its centre need not be tested.
 */
const FEATURE = [2, 2, 1, 0.6, 0.45, 0.5, 0.4, 0.5, 0.8, DOT_SPACING - 2 * DOT_RADIUS]

/** Area, centroid (cu, cv) and radius of the bounding circle about the centroid, in the unit frame. */
interface Geometry {
  readonly area: number
  readonly cu: number
  readonly cv: number
  readonly radius: number
}

const centred = (area: number, radius: number): Geometry => ({ area, cu: 0, cv: 0, radius })

/** Exact geometry of each shape, in label order (the l-shape is the only one not centred on the origin). */
const GEOMETRY: ReadonlyArray<Geometry> = [
  centred(Math.PI, 1),
  centred(4, Math.SQRT2),
  centred((3 * SQRT3) / 4, 1),
  centred(2 * 1.2 - 0.36, Math.hypot(1, 0.3)),
  centred(Math.PI * (1 - 0.55 * 0.55), 1),
  centred(5 * STAR_INNER * Math.sin(Math.PI / 5), 1),
  centred(3 * 0.4 * 2, Math.SQRT2),
  centred(8 * 0.25, Math.SQRT2),
  // Bars [-1, -0.2]×[-1, 1] and (-0.2, 1]×[-1, -0.2]: centroid (-0.225, -0.225), farthest corners (1, -1), (-1, 1).
  { area: 2.56, cu: -0.225, cv: -0.225, radius: Math.hypot(1.225, 0.775) },
  centred(9 * Math.PI * DOT_RADIUS * DOT_RADIUS, DOT_SPACING * Math.SQRT2 + DOT_RADIUS)
]

/**
 * The largest area fraction actually used: the bounding circle at the largest stretch must fit in the
 * image's shorter side for every class, so that one area range serves all classes (size never depends on
 * the class). With the shapes above the dots bind, at ≈ 0.175.
 */
const AREA_TOP = Math.min(
  AREA_MAX,
  ...GEOMETRY.map((g) => (0.98 * g.area) / (4 * (g.radius * Math.exp(STRETCH)) ** 2))
)

/** Integer hash (lowbias32) for the per-pixel noise. */
const hash32 = (x: number): number => {
  x = (x ^ (x >>> 16)) >>> 0
  x = Math.imul(x, 0x7feb352d) >>> 0
  x = (x ^ (x >>> 15)) >>> 0
  x = Math.imul(x, 0x846ca68b) >>> 0
  return (x ^ (x >>> 16)) >>> 0
}

const luminance = (c: ReadonlyArray<number>): number => 0.299 * c[0]! + 0.587 * c[1]! + 0.114 * c[2]!

const check = (name: string, ok: boolean, requirement: string, value: number): void => {
  if (!ok) throw new Error(`renderSynthetic: ${name} must be ${requirement}, got ${value}`)
}

/**
 * Image `index` of the synthetic set with this seed: HWC RGB uint8, row-major, 3 channels. Label = index % numClasses.
 *
 * `seed` any finite number (53-bit integers are used in full), `index` an integer in [0, 2^32), `height` and
 * `width` integers ≥ 8, `numClasses` an integer in [2, 10] (the first `numClasses` classes), `maxRotation` in
 * degrees, [0, 180] (180: any angle), `gray`: both colours replaced by their luminance. Anything else throws
 * an `Error` naming the argument.
 */
export const renderSynthetic = (
  seed: number,
  index: number,
  height: number,
  width: number,
  numClasses = 10,
  maxRotation = 180,
  gray = false
): { readonly pixels: Uint8Array; readonly label: number } => {
  check("seed", Number.isFinite(seed), "a finite number", seed)
  check("index", Number.isInteger(index) && index >= 0 && index < 2 ** 32, "an integer in [0, 2^32)", index)
  check("height", Number.isInteger(height) && height >= 8, "an integer ≥ 8", height)
  check("width", Number.isInteger(width) && width >= 8, "an integer ≥ 8", width)
  check(
    "numClasses",
    Number.isInteger(numClasses) && numClasses >= 2 && numClasses <= SYNTHETIC_CLASSES.length,
    `an integer in [2, ${SYNTHETIC_CLASSES.length}]`,
    numClasses
  )
  check("maxRotation", maxRotation >= 0 && maxRotation <= 180, "a number of degrees in [0, 180]", maxRotation)
  const label = index % numClasses
  const geo = GEOMETRY[label]!
  const rng = new Random(seed, index)

  // Every draw below happens in the same order and from the same distribution whatever the class.
  const side = Math.min(height, width)
  const scale = Math.sqrt((rng.between(AREA_MIN, AREA_TOP) * side * side) / geo.area)
  const stretch = Math.exp(rng.between(-STRETCH, STRETCH))
  const sx = scale * stretch
  const sy = scale / stretch
  // Uniform over the circle, or over [−maxRotation, maxRotation] degrees from upright (the same draw, rescaled).
  const turn = rng.between(0, 2 * Math.PI)
  const theta = maxRotation === 180 ? turn : ((turn - Math.PI) * maxRotation) / 180
  const extent = geo.radius * scale * Math.max(stretch, 1 / stretch)
  const cx = rng.between(extent, width - extent)
  const cy = rng.between(extent, height - extent)
  let fg: Array<number>
  let bg: Array<number>
  do {
    fg = [rng.uniform(), rng.uniform(), rng.uniform()]
    bg = [rng.uniform(), rng.uniform(), rng.uniform()]
  } while (Math.abs(luminance(fg) - luminance(bg)) < MIN_CONTRAST)
  if (luminance(fg) < luminance(bg)) [fg, bg] = [bg, fg]
  // Gray images: each colour replaced by its luminance (the same draws, so the same shapes and contrast).
  if (gray) [fg, bg] = [fg, bg].map((c) => [luminance(c), luminance(c), luminance(c)]) as [Array<number>, Array<number>]
  const gradient = rng.between(0, MAX_GRADIENT)
  const gradientAngle = rng.between(0, 2 * Math.PI)
  const noise = rng.between(0, MAX_NOISE)
  const noiseKey = rng.nextUint32()

  // Pixel (x, y) ↦ unit frame: undo translation, rotation and scale, then move to the shape's centroid.
  const cos = Math.cos(theta)
  const sin = Math.sin(theta)
  const frame: Frame = {
    dux: cos / sx,
    duy: sin / sx,
    dvx: -sin / sy,
    dvy: cos / sy,
    u0: geo.cu - (cos / sx) * cx - (sin / sx) * cy,
    v0: geo.cv + (sin / sy) * cx - (cos / sy) * cy
  }
  const thin = (FEATURE[label]! * scale) / Math.max(stretch, 1 / stretch) < 1.5
  const coverage = rasterise(label, frame, cx, cy, extent, height, width, thin)
  const pixels = paint(coverage, fg, bg, height, width, {
    gx: (gradient * Math.cos(gradientAngle)) / side,
    gy: (gradient * Math.sin(gradientAngle)) / side,
    noise,
    noiseKey,
    gray
  })
  return { pixels, label }
}

/** Affine map from pixel coordinates to the shape's unit frame: u = u0 + dux·x + duy·y, v likewise. */
interface Frame {
  readonly dux: number
  readonly duy: number
  readonly dvx: number
  readonly dvy: number
  readonly u0: number
  readonly v0: number
}

/**
 * Coverage of every pixel by the shape, 0..1. Only the shape's bounding box is visited; pixel corners are
 * tested once each, and a pixel is supersampled on a SUPERSAMPLE² grid unless its corners (and, for shapes
 * with features near pixel size, its centre) all agree.
 */
const rasterise = (
  kind: number,
  f: Frame,
  cx: number,
  cy: number,
  extent: number,
  height: number,
  width: number,
  thin: boolean
): Float32Array => {
  const coverage = new Float32Array(height * width)
  const test = (x: number, y: number): boolean => inside(kind, f.u0 + f.dux * x + f.duy * y, f.v0 + f.dvx * x + f.dvy * y)
  const x0 = Math.max(0, Math.floor(cx - extent) - 1)
  const x1 = Math.min(width - 1, Math.ceil(cx + extent) + 1)
  const y0 = Math.max(0, Math.floor(cy - extent) - 1)
  const y1 = Math.min(height - 1, Math.ceil(cy + extent) + 1)
  const stride = x1 - x0 + 2
  const corners = new Uint8Array(stride * (y1 - y0 + 2))
  const reach2 = (extent + 1) * (extent + 1)
  for (let y = y0; y <= y1 + 1; y++) {
    const row = (y - y0) * stride - x0
    const dy2 = (y - cy) * (y - cy)
    for (let x = x0; x <= x1 + 1; x++) {
      // Corners outside the bounding circle are outside the shape.
      if ((x - cx) * (x - cx) + dy2 <= reach2 && test(x, y)) corners[row + x] = 1
    }
  }
  const sub = 1 / SUPERSAMPLE
  const samples = SUPERSAMPLE * SUPERSAMPLE
  for (let y = y0; y <= y1; y++) {
    const row = (y - y0) * stride - x0
    for (let x = x0; x <= x1; x++) {
      const k = row + x
      const sum = corners[k]! + corners[k + 1]! + corners[k + stride]! + corners[k + stride + 1]!
      if (sum === 0 && !(thin && test(x + 0.5, y + 0.5))) continue
      if (sum === 4 && (!thin || test(x + 0.5, y + 0.5))) {
        coverage[y * width + x] = 1
        continue
      }
      let hits = 0
      for (let i = 0; i < SUPERSAMPLE; i++) {
        const ys = y + (i + 0.5) * sub
        for (let j = 0; j < SUPERSAMPLE; j++) if (test(x + (j + 0.5) * sub, ys)) hits++
      }
      coverage[y * width + x] = hits / samples
    }
  }
  return coverage
}

/** Light: relative illumination change per pixel along x and y; noise amplitude (0..1) and hash key. */
interface Light {
  readonly gx: number
  readonly gy: number
  readonly noise: number
  /** One noise value for all three channels (gray images stay gray). */
  readonly gray: boolean
  readonly noiseKey: number
}

/** Mixes the two colours by coverage, applies the illumination gradient and adds uniform per-pixel noise. */
const paint = (
  coverage: Float32Array,
  fg: ReadonlyArray<number>,
  bg: ReadonlyArray<number>,
  height: number,
  width: number,
  light: Light
): Uint8Array => {
  // A clamped view rounds and clamps on store; the caller gets a plain Uint8Array over the same bytes.
  const out = new Uint8ClampedArray(height * width * 3)
  const br = bg[0]! * 255
  const bgg = bg[1]! * 255
  const bb = bg[2]! * 255
  const dr = fg[0]! * 255 - br
  const dg = fg[1]! * 255 - bgg
  const db = fg[2]! * 255 - bb
  // 10 bits of one hash per channel, scaled to [-amplitude, amplitude].
  const amplitude = light.noise * 255
  const unit = (2 * amplitude) / 1023
  for (let y = 0; y < height; y++) {
    const ly = 1 + light.gy * (y + 0.5 - height / 2)
    for (let x = 0; x < width; x++) {
      const p = y * width + x
      const c = coverage[p]!
      const l = ly + light.gx * (x + 0.5 - width / 2)
      const h = hash32((light.noiseKey ^ Math.imul(p, 0x9e3779b9)) >>> 0)
      const o = p * 3
      out[o] = (br + dr * c) * l + (h & 1023) * unit - amplitude
      out[o + 1] = (bgg + dg * c) * l + ((light.gray ? h : h >>> 10) & 1023) * unit - amplitude
      out[o + 2] = (bb + db * c) * l + ((light.gray ? h : h >>> 20) & 1023) * unit - amplitude
    }
  }
  return new Uint8Array(out.buffer)
}
