/* op-copy.c: cast, copy, concat and slice, all one shader: a 4-D box of
 * one tensor copied into a box of another, converting storage type
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "graph-private.h"
#include "ops.h"

#define LOCAL_SIZE 256

typedef struct {
  guint32 count, bh, bw, bc;
  guint32 s_off, s_sn, s_sh, s_sw;
  guint32 d_off, d_sn, d_sh, d_sw;
} CopyParams;

static const char *const axis_names[] = { "N", "H", "W", "C" };

static guint32
dim_of (const DrapeTensor *t,
        guint              axis)
{
  guint32 dims[4] = { t->n, t->h, t->w, t->c };

  return dims[axis];
}

static guint64
element_index (const DrapeTensor *t,
               const guint32      at[4])
{
  return (((guint64) at[0] * t->h + at[1]) * t->w + at[2]) * t->c + at[3];
}

/* Elements from a box's first to its last, inclusive, in tensor t. */
static guint64
box_span (const DrapeTensor *t,
          const guint32      box[4])
{
  return (((guint64) (box[0] - 1) * t->h + (box[1] - 1)) * t->w + (box[2] - 1)) * t->c + box[3];
}

/* A stride only matters when the box spans more than one step of it, and
 * then it is less than the bound range: larger values are never used. */
static guint32
stride32 (guint64 stride)
{
  return (guint32) MIN (stride, (guint64) G_MAXUINT32);
}

static const char *
copy_variant (DrapeDType src,
              DrapeDType dst)
{
  if (src == dst)
    return drape_dtype_name (src);
  return src == DRAPE_DTYPE_F32 ? "f32_f16" : "f16_f32";
}

/* The bytes a binding may span once drape_bind() has aligned its start
 * down (by less than 256, every device's largest alignment). */
static guint64
usable_bytes (DrapeGraph *graph)
{
  return drape_graph_binding_limit (graph) - 256;
}

/* Copies box (n, h, w, c sizes) from src at src_at to dst at dst_at, in
 * tiles whose ranges fit one binding in both tensors. */
static void
copy_box (DrapeGraph        *graph,
          const char        *label,
          const DrapeTensor *src,
          const guint32      src_at[4],
          const DrapeTensor *dst,
          const guint32      dst_at[4],
          const guint32      box[4])
{
  guint32 spec[] = { LOCAL_SIZE, 1, 1 };
  gsize ses = drape_dtype_size (src->dtype), des = drape_dtype_size (dst->dtype);
  guint64 usable = usable_bytes (graph);
  guint32 tile[4] = { box[0], box[1], box[2], box[3] };
  guint32 o[4];
  DrapeKernel *kernel;

  if (!drape_graph_ok (graph))
    return;
  /* Halve the outermost dimension that is not yet 1 until a tile fits. */
  while (box_span (src, tile) * ses > usable || box_span (dst, tile) * des > usable)
    {
      guint d = 0;

      while (d < 4 && tile[d] == 1)
        d++;
      if (d == 4)
        {
          drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED,
                            "%s: the device's binding limit is too small for one element", label);
          return;
        }
      tile[d] = (tile[d] + 1) / 2;
    }

  kernel = drape_graph_kernel_variant (graph, "copy", copy_variant (src->dtype, dst->dtype),
                                       2, spec, G_N_ELEMENTS (spec));
  for (o[0] = 0; o[0] < box[0]; o[0] += tile[0])
    for (o[1] = 0; o[1] < box[1]; o[1] += tile[1])
      for (o[2] = 0; o[2] < box[2]; o[2] += tile[2])
        for (o[3] = 0; o[3] < box[3]; o[3] += tile[3])
          {
            guint32 piece[4], s_at[4], d_at[4];
            DrapeBinding bind[2];
            CopyParams p;

            for (guint d = 0; d < 4; d++)
              {
                piece[d] = MIN (tile[d], box[d] - o[d]);
                s_at[d] = src_at[d] + o[d];
                d_at[d] = dst_at[d] + o[d];
              }
            p = (CopyParams) {
              .count = piece[0] * piece[1] * piece[2] * piece[3],
              .bh = piece[1],
              .bw = piece[2],
              .bc = piece[3],
              .s_sn = stride32 ((guint64) src->h * src->w * src->c),
              .s_sh = stride32 ((guint64) src->w * src->c),
              .s_sw = src->c,
              .d_sn = stride32 ((guint64) dst->h * dst->w * dst->c),
              .d_sh = stride32 ((guint64) dst->w * dst->c),
              .d_sw = dst->c,
            };
            p.s_off = drape_bind (&bind[0], src, element_index (src, s_at) * ses,
                                  box_span (src, piece) * ses);
            p.d_off = drape_bind (&bind[1], dst, element_index (dst, d_at) * des,
                                  box_span (dst, piece) * des);
            drape_graph_dispatch_flat (graph, kernel, bind, &p, sizeof p,
                                       drape_div_up (p.count, LOCAL_SIZE), 1, label, 0);
          }
}

static const guint32 origin[4] = { 0, 0, 0, 0 };

static DrapeTensor *
placeholder_like (DrapeGraph        *graph,
                  const DrapeTensor *x)
{
  return drape_graph_placeholder (graph, x ? x->dtype : DRAPE_DTYPE_F32,
                                  x ? x->n : 1, x ? x->h : 1, x ? x->w : 1, x ? x->c : 1);
}

DrapeTensor *
drape_op_cast (DrapeGraph        *graph,
               const DrapeTensor *x,
               DrapeDType         dtype)
{
  DrapeTensor *out;
  guint32 box[4];

  if (!drape_graph_check_tensor (graph, "cast", "x", x))
    return placeholder_like (graph, x);
  if (dtype != DRAPE_DTYPE_F32 && dtype != DRAPE_DTYPE_F16)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT, "cast: unknown dtype %u", (guint) dtype);
      return placeholder_like (graph, x);
    }
  out = drape_graph_tensor (graph, dtype, x->n, x->h, x->w, x->c);
  box[0] = x->n, box[1] = x->h, box[2] = x->w, box[3] = x->c;
  copy_box (graph, "cast", x, origin, out, origin, box);
  return out;
}

void
drape_op_copy (DrapeGraph        *graph,
               const DrapeTensor *src,
               DrapeTensor       *dst)
{
  guint32 box[4];

  if (!drape_graph_check_tensor (graph, "copy", "src", src) ||
      !drape_graph_check_tensor (graph, "copy", "dst", dst))
    return;
  if (dst->graph != NULL)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "copy: dst must be a tensor with memory of its own, not an activation");
      return;
    }
  if (!drape_tensor_same_shape (src, dst))
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "copy: src [%u %u %u %u] and dst [%u %u %u %u] differ in shape",
                        src->n, src->h, src->w, src->c, dst->n, dst->h, dst->w, dst->c);
      return;
    }
  box[0] = src->n, box[1] = src->h, box[2] = src->w, box[3] = src->c;
  copy_box (graph, "copy", src, origin, dst, origin, box);
}

DrapeTensor *
drape_op_concat (DrapeGraph        *graph,
                 DrapeAxis          axis,
                 const DrapeTensor *a,
                 const DrapeTensor *b)
{
  guint32 dims[4], box[4], at[4] = { 0, 0, 0, 0 };
  guint64 total;
  DrapeTensor *out;

  if (!drape_graph_check_tensor (graph, "concat", "a", a) ||
      !drape_graph_check_tensor (graph, "concat", "b", b))
    return placeholder_like (graph, a);
  if ((guint) axis > DRAPE_AXIS_C)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT, "concat: unknown axis %u", (guint) axis);
      return placeholder_like (graph, a);
    }
  if (a->dtype != b->dtype)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT, "concat: a is %s but b is %s",
                        drape_dtype_name (a->dtype), drape_dtype_name (b->dtype));
      return placeholder_like (graph, a);
    }
  for (guint d = 0; d < 4; d++)
    if (d != axis && dim_of (a, d) != dim_of (b, d))
      {
        drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                          "concat along %s: a [%u %u %u %u] and b [%u %u %u %u] differ in %s",
                          axis_names[axis], a->n, a->h, a->w, a->c, b->n, b->h, b->w, b->c,
                          axis_names[d]);
        return placeholder_like (graph, a);
      }
  total = (guint64) dim_of (a, axis) + dim_of (b, axis);
  if (total > G_MAXUINT32)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "concat along %s: %" G_GUINT64_FORMAT " is too large a dimension",
                        axis_names[axis], total);
      return placeholder_like (graph, a);
    }
  for (guint d = 0; d < 4; d++)
    dims[d] = d == axis ? (guint32) total : dim_of (a, d);

  out = drape_graph_tensor (graph, a->dtype, dims[0], dims[1], dims[2], dims[3]);
  box[0] = a->n, box[1] = a->h, box[2] = a->w, box[3] = a->c;
  copy_box (graph, "concat", a, origin, out, origin, box);
  box[0] = b->n, box[1] = b->h, box[2] = b->w, box[3] = b->c;
  at[axis] = dim_of (a, axis);
  copy_box (graph, "concat", b, origin, out, at, box);
  return out;
}

DrapeTensor *
drape_op_slice (DrapeGraph        *graph,
                DrapeAxis          axis,
                const DrapeTensor *x,
                guint32            start,
                guint32            count)
{
  guint32 box[4], at[4] = { 0, 0, 0, 0 };
  DrapeTensor *out;

  if (!drape_graph_check_tensor (graph, "slice", "x", x))
    return placeholder_like (graph, x);
  if ((guint) axis > DRAPE_AXIS_C)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT, "slice: unknown axis %u", (guint) axis);
      return placeholder_like (graph, x);
    }
  if (count == 0 || (guint64) start + count > dim_of (x, axis))
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "slice along %s: [%u, %u + %u) is empty or outside x [%u %u %u %u]",
                        axis_names[axis], start, start, count, x->n, x->h, x->w, x->c);
      return placeholder_like (graph, x);
    }
  for (guint d = 0; d < 4; d++)
    box[d] = d == axis ? count : dim_of (x, d);
  at[axis] = start;
  out = drape_graph_tensor (graph, x->dtype, box[0], box[1], box[2], box[3]);
  copy_box (graph, "slice", x, at, out, origin, box);
  return out;
}

DrapeTensor *
drape_op_transpose (DrapeGraph        *graph,
                    const DrapeTensor *x,
                    guint32            c0,
                    guint32            count)
{
  guint32 spec[] = { LOCAL_SIZE, 1, 1 };
  guint64 hw, usable = usable_bytes (graph);
  gsize es;
  DrapeKernel *kernel;
  DrapeTensor *out;

  if (!drape_graph_check_tensor (graph, "transpose", "x", x))
    return placeholder_like (graph, x);
  hw = (guint64) x->h * x->w;
  es = drape_dtype_size (x->dtype);
  if (count == 0 || (guint64) c0 + count > x->c)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "transpose: channels [%u, %u + %u) are empty or outside x [%u %u %u %u]",
                        c0, c0, count, x->n, x->h, x->w, x->c);
      return placeholder_like (graph, x);
    }
  if (hw * x->c * es > usable || hw > G_MAXUINT32 / MAX (count, 1))
    {
      drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED,
                        "transpose: one image of x [%u %u %u %u] exceeds the device's binding "
                        "limit", x->n, x->h, x->w, x->c);
      return drape_graph_placeholder (graph, x->dtype, x->n, count, 1, (guint32) MIN (hw, G_MAXUINT32));
    }
  out = drape_graph_tensor (graph, x->dtype, x->n, count, 1, (guint32) hw);
  kernel = drape_graph_kernel_variant (graph, "copy", copy_variant (x->dtype, x->dtype), 2, spec,
                                       G_N_ELEMENTS (spec));
  /* copy.comp's box, one image per dispatch: h walks positions and w
   * channels, so that neighbouring threads read neighbouring values. */
  for (guint32 i = 0; i < x->n; i++)
    {
      DrapeBinding bind[2];
      CopyParams p = {
        .count = (guint32) (hw * count),
        .bh = (guint32) hw,
        .bw = count,
        .bc = 1,
        .s_sh = x->c,
        .s_sw = 1,
        .d_sh = 1,
        .d_sw = (guint32) hw,
      };

      p.s_off = drape_bind (&bind[0], x, (i * hw * x->c + c0) * es, ((hw - 1) * x->c + count) * es);
      p.d_off = drape_bind (&bind[1], out, i * hw * count * es, hw * count * es);
      drape_graph_dispatch_flat (graph, kernel, bind, &p, sizeof p,
                                 drape_div_up (p.count, LOCAL_SIZE), 1, "transpose", 0);
    }
  return out;
}
