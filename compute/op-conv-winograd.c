/* op-conv-winograd.c: 3x3 convolutions as Winograd's F(4x4, 3x3)
 *
 * Where multiplies are what a convolution costs, as on CPU drivers such
 * as lavapipe, a 3x3 convolution of stride 1 goes as 36 GEMMs of 4x4
 * output tiles against transformed kernels: 2.25 multiplies per output
 * and input channel instead of 9 (shaders/conv_winograd.comp has the
 * algebra).  A recording is
 *   1. the kernels' transform U [36 cout, 1, 1, cin], into the graph's
 *      memory: each recording makes its own, so no weight is held twice;
 *   2. per part of the output (every image at once, or bands of tile rows
 *      of one image, so that the transformed tiles take at most
 *      CHUNK_BYTES): the input tiles' transform V [1, tiles, 1, 36 cin],
 *      the GEMMs as a 1x1 convolution in 36 groups (op-conv.c's kernels)
 *      into M [1, tiles, 1, 36 cout], and M's transform back into the
 *      output's tiles through the convolution's epilogue.
 * GPUs keep the direct GEMM, whose multiplies come cheaper than the
 * transforms' memory traffic, and so do CPU drivers where the transforms
 * would cost more than the GEMMs save: fewer than about 70 channels, or
 * too few pixels to pay for the kernels' transform (pays ()).  f16
 * convolutions stay direct too (drape_conv_winograd_suits says why).
 * DRAPE_CONV_WINOGRAD overrides the choice, for tests and measurements:
 * "0" never, "1" wherever the shapes allow; DRAPE_CONV_WINOGRAD_TILES
 * sets the tiles of a part, for tests.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include "op-conv-private.h"
#include "ops.h"

#define LOCAL 64
/* A tile's output side, and its transforms' values. */
#define TILE 4
#define TRANSFORMS 36
/* The transformed tiles of one part, V's or M's. */
#define CHUNK_BYTES ((guint64) 64 << 20)
/* What the transforms cost on lavapipe, in units of what the GEMMs save
 * over the direct convolution per output pixel, input and output
 * channel (bench-conv --profile, 3x3 convolutions of 128 to 640
 * channels, AVX-512): the kernels' per input and output channel, the
 * input's per output pixel and input channel, the output's per output
 * pixel and channel.  Each value the transforms write is a store the
 * driver makes a lane at a time, which is most of their cost; the
 * kernels' transform is dearest where there are fewest tiles, as the
 * GEMMs save less there. */
#define COST_WEIGHTS 800
#define COST_INPUT 30
#define COST_OUTPUT 28
/* The share of the saving the transforms may take: close calls stay
 * direct. */
#define MAX_SHARE 0.85

enum {
  STAGE_WEIGHTS,
  STAGE_INPUT,
  STAGE_OUTPUT,
};

static const char *const stage_labels[] = {
  [STAGE_WEIGHTS] = "conv2d_winograd_weights",
  [STAGE_INPUT] = "conv2d_winograd_input",
  [STAGE_OUTPUT] = "conv2d_winograd_output",
};

/* Bytes one binding may span. */
static guint64
binding_room (DrapeGraph *graph)
{
  guint64 limit = drape_graph_binding_limit (graph);
  guint64 align = drape_device_get_caps (drape_graph_get_device (graph))->storage_offset_alignment;

  return limit > align ? limit - align : 0;
}

/* Tiles of transformed values one part may hold. */
static guint64
chunk_tiles (DrapeGraph *graph,
             const Conv *c)
{
  const char *forced = g_getenv ("DRAPE_CONV_WINOGRAD_TILES");
  guint64 bytes = MIN (CHUNK_BYTES, binding_room (graph));

  if (forced != NULL)
    return g_ascii_strtoull (forced, NULL, 10);
  return bytes / (TRANSFORMS * (guint64) MAX (c->cin, c->cout) * drape_dtype_size (c->x->dtype));
}

/* Whether the transforms cost less than the GEMMs save, for `pixels`
 * output pixels of cout channels from cin. */
static gboolean
pays (double  pixels,
      guint32 cin,
      guint32 cout)
{
  return COST_WEIGHTS / pixels + (double) COST_INPUT / cout + (double) COST_OUTPUT / cin < MAX_SHARE;
}

gboolean
drape_conv_winograd_suits (DrapeGraph *graph,
                           const Conv *c)
{
  const char *forced = g_getenv ("DRAPE_CONV_WINOGRAD");
  guint32 rows = c->oy_count ? c->oy_count : c->oh;

  /* The shapes the transforms are written for, channels in fours, the
   * transformed kernels in one binding and a tile row per part at
   * least; and f32, as the transforms' factors (up to 8 a side) carry
   * f16 rounding past what f16 convolutions are held to. */
  if (c->kh != 3 || c->kw != 3 || c->stride != 1 || c->groups != 1 || c->geglu || c->subpixel ||
      c->over != NULL || c->x_base != 0 || c->w_base != 0 || c->o_base != 0 || c->cin % 4 != 0 ||
      c->cout % 4 != 0 || c->x->dtype != DRAPE_DTYPE_F32 || c->out->dtype != DRAPE_DTYPE_F32 ||
      TRANSFORMS * (guint64) c->cout * c->cin * drape_dtype_size (c->x->dtype) > binding_room (graph) ||
      chunk_tiles (graph, c) < drape_div_up (c->ow, TILE))
    return FALSE;
  if (forced != NULL)
    return g_strcmp0 (forced, "0") != 0;
  return drape_device_get_info (drape_graph_get_device (graph))->is_software &&
         pays (c->n * (double) rows * c->ow, c->cin, c->cout);
}

/* Whether the stages run their CPU variants, which read x, M and the
 * weights as texel buffers and store 64-bit values
 * (drape_conv_cpu_texels), where each operand fits one texel buffer. */
static gboolean
reads_texels (DrapeGraph *graph,
              const Conv *c)
{
  return drape_conv_cpu_texels (graph) && drape_graph_fits_texels (graph, c->x) &&
         drape_graph_fits_texels (graph, c->weight) &&
         TRANSFORMS * chunk_tiles (graph, c) * c->cout * drape_dtype_size (c->x->dtype) <=
           drape_graph_texel_room (graph, c->x->dtype);
}

/* One stage over `tiles` tiles (the kernels' stage: over the kernels),
 * four channels an invocation. */
static void
stage_dispatch (DrapeGraph         *graph,
                const Conv         *c,
                gboolean            texel,
                guint32             stage,
                const DrapeBinding *bind,
                const ConvPush     *p,
                guint64             tiles)
{
  guint64 invocations = stage == STAGE_WEIGHTS ? (guint64) c->cout * (c->cin / 4)
                        : tiles * ((stage == STAGE_INPUT ? c->cin : c->cout) / 4);
  guint32 spec[] = { LOCAL, 1, 1, stage,
                     drape_device_get_caps (drape_graph_get_device (graph))->stores_int64 };
  g_autofree char *variant = drape_conv_variant (c, texel);
  DrapeKernel *kernel = drape_graph_kernel_texel (graph, "conv_winograd", variant, N_BINDINGS,
                                                  texel ? CONV_TEXEL_BINDINGS : 0, spec,
                                                  G_N_ELEMENTS (spec));

  if (kernel == NULL)
    return;
  drape_graph_dispatch_flat (graph, kernel, bind, p, sizeof *p, drape_div_up (invocations, LOCAL),
                             1, stage_labels[stage], 0);
  drape_graph_describe_last (graph, "tiles%" G_GUINT64_FORMAT " cin%u cout%u", tiles, c->cin, c->cout);
}

/* U: the kernels [cout, 3, 3, cin] as [36 cout, 1, 1, cin]. */
static DrapeTensor *
transform_weights (DrapeGraph *graph,
                   const Conv *c,
                   gboolean    texel)
{
  DrapeTensor *u = drape_graph_tensor (graph, c->x->dtype, TRANSFORMS * c->cout, 1, 1, c->cin);
  DrapeBinding bind[N_BINDINGS];
  ConvPush p = { .cin = c->cin, .cout = c->cout };

  /* The stage reads the weights and writes u; the rest stand in. */
  p.o_off = drape_bind (&bind[BIND_OUT], u, 0, drape_tensor_bytes (u));
  for (guint i = 0; i < N_BINDINGS; i++)
    bind[i] = bind[BIND_OUT];
  p.w_off = (texel ? drape_bind_texel : drape_bind) (&bind[BIND_W], c->weight, 0,
                                                     drape_tensor_bytes (c->weight));
  bind[BIND_X] = bind[BIND_GATE_W] = bind[BIND_W];
  stage_dispatch (graph, c, texel, STAGE_WEIGHTS, bind, &p, 0);
  return u;
}

/* One part of the output: its tiles' transform, the GEMMs, and back. */
static void
record_part (DrapeGraph        *graph,
             const Conv        *c,
             gboolean           texel,
             const DrapeTensor *u,
             const ConvPart    *part)
{
  guint64 tiles = (guint64) part->nimg * drape_div_up (part->rows, TILE) * drape_div_up (c->ow, TILE);
  DrapeConvParams gemm = { .groups = TRANSFORMS };
  DrapeBinding bind[N_BINDINGS], in_bind[N_BINDINGS];
  ConvPush p, in_p;
  DrapeTensor *v, *m;

  drape_conv_part_bind (c, part, texel, bind, &p);

  v = drape_graph_tensor (graph, c->x->dtype, 1, (guint32) tiles, 1, TRANSFORMS * c->cin);
  memcpy (in_bind, bind, sizeof in_bind);
  in_p = p;
  in_p.o_off = drape_bind (&in_bind[BIND_OUT], v, 0, drape_tensor_bytes (v));
  stage_dispatch (graph, c, texel, STAGE_INPUT, in_bind, &in_p, tiles);

  m = drape_op_conv2d (graph, v, u, &gemm);
  drape_tensor_release (v);

  p.x_off = (texel ? drape_bind_texel : drape_bind) (&bind[BIND_X], m, 0, drape_tensor_bytes (m));
  stage_dispatch (graph, c, texel, STAGE_OUTPUT, bind, &p, tiles);
  drape_tensor_release (m);
}

void
drape_conv_winograd_record (DrapeGraph *graph,
                            const Conv *c)
{
  guint32 first = c->oy_count ? c->oy_first : 0;
  guint32 end = c->oy_count ? c->oy_first + c->oy_count : c->oh;
  guint32 tw = (guint32) drape_div_up (c->ow, TILE);
  guint64 room = chunk_tiles (graph, c);
  guint32 band = (guint32) MIN (TILE * (room / tw), c->oh);
  gboolean texel = reads_texels (graph, c);
  DrapeTensor *u = transform_weights (graph, c, texel);

  /* Every image in one part where the output is whole and fits. */
  if (c->oy_count == 0 && (guint64) c->n * drape_div_up (c->oh, TILE) * tw <= room)
    record_part (graph, c, texel, u, &(ConvPart) { .ng = 1, .nc = c->cout, .nimg = c->n, .rows = c->oh });
  else
    for (guint32 img = 0; img < c->n; img++)
      for (guint32 oy0 = first; oy0 < end; oy0 += band)
        record_part (graph, c, texel, u, &(ConvPart) {
                       .ng = 1, .nc = c->cout, .img = img, .nimg = 1, .oy0 = oy0,
                       .rows = MIN (band, end - oy0),
                     });
  drape_tensor_release (u);
}
