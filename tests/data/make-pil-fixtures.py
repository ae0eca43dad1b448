#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Writes the pil-*.png fixtures that test-image.c compares compute/image.c
# against: deterministic sources, and what Pillow makes of them.  Run from
# this folder with Debian's Pillow (python3-pil 9.4):
#     /usr/bin/python3 make-pil-fixtures.py
from PIL import Image, ImageFilter


def noise(seed):
    state = seed
    while True:
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        yield state >> 16


def clamp(v):
    return max(0, min(255, v))


def pattern(width, height, bands, seed):
    """Ramps, a hard-edged checker (so LANCZOS's negative lobes clip) and
    noise."""
    g = noise(seed)
    data = []
    for y in range(height):
        for x in range(width):
            px = []
            for c in range(bands):
                ramp = ((x * (5 + c) + y * (3 + 2 * c)) * 3) % 256
                checker = 230 if (x // 5 + y // 4 + c) % 2 else 10
                px.append(clamp((ramp + checker) // 2 + next(g) % 41 - 20))
            data.append(tuple(px) if bands > 1 else px[0])
    im = Image.new("RGB" if bands == 3 else "L", (width, height))
    im.putdata(data)
    return im


def mask_source():
    """A hand-painted-like mask: an ellipse and a bar, hard edges."""
    im = Image.new("L", (90, 100), 0)
    px = im.load()
    for y in range(100):
        for x in range(90):
            inside = ((x - 40) / 28.0) ** 2 + ((y - 45) / 35.0) ** 2 <= 1.0
            bar = 60 <= x < 75 and 10 <= y < 95
            px[x, y] = 255 if inside or bar else 0
    return im


# CatVTON's utils.py resize_and_crop / resize_and_padding.
def resize_and_crop(image, size):
    w, h = image.size
    tw, th = size
    if w / h < tw / th:
        nw, nh = w, w * th // tw
    else:
        nh, nw = h, h * tw // th
    image = image.crop(((w - nw) // 2, (h - nh) // 2, (w + nw) // 2, (h + nh) // 2))
    return image.resize(size, Image.LANCZOS)


def resize_and_padding(image, size):
    w, h = image.size
    tw, th = size
    if w / h < tw / th:
        nh, nw = th, w * th // h
    else:
        nw, nh = tw, h * tw // w
    image = image.resize((nw, nh), Image.LANCZOS)
    out = Image.new("RGB", size, (255, 255, 255))
    out.paste(image, ((tw - nw) // 2, (th - nh) // 2))
    return out


rgb = pattern(37, 29, 3, 1)
grey = pattern(31, 23, 1, 2)
mask = mask_source()
rgb.save("pil-src-rgb.png")
grey.save("pil-src-l.png")
mask.save("pil-src-mask.png")

for w, h in [(16, 11), (37, 61), (80, 29), (20, 50)]:
    rgb.resize((w, h), Image.LANCZOS).save(f"pil-lanczos-rgb-{w}x{h}.png")
for w, h in [(7, 40), (64, 5)]:
    grey.resize((w, h), Image.LANCZOS).save(f"pil-lanczos-l-{w}x{h}.png")
for w, h in [(16, 11), (80, 50)]:
    rgb.resize((w, h), Image.BILINEAR).save(f"pil-bilinear-rgb-{w}x{h}.png")
grey.resize((9, 9), Image.BILINEAR).save("pil-bilinear-l-9x9.png")

rgb.filter(ImageFilter.GaussianBlur(2.5)).save("pil-blur-rgb-r2.5.png")
grey.filter(ImageFilter.GaussianBlur(0.4)).save("pil-blur-l-r0.4.png")
grey.filter(ImageFilter.GaussianBlur(40)).save("pil-blur-l-r40.png")
mask.filter(ImageFilter.GaussianBlur(9)).save("pil-blur-mask-r9.png")

rgb.convert("L").save("pil-convert-l.png")

resize_and_crop(rgb, (50, 20)).save("pil-crop-rgb-50x20.png")
resize_and_padding(rgb, (20, 50)).save("pil-pad-rgb-20x50.png")

# CatVTON's app: resize_and_crop, GaussianBlur(9); its pipeline: >= 0.5.
prepared = resize_and_crop(mask, (48, 64)).filter(ImageFilter.GaussianBlur(9))
prepared.point(lambda v: 255 if v >= 128 else 0).save("pil-mask-48x64.png")
