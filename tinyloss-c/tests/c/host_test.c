/* Host test of the C ABI: calls every entry point on deterministic inputs
 * and prints each result as "key value-bits" (and each error as "err ...");
 * tests/c_abi.rs computes the same with the Rust API and compares bit for
 * bit. Built with gcc -std=c11 -Wall -Wextra -Werror -pedantic. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tinyloss.h"

#define N 37
#define ROWS 7
#define C 5
#define Q 40

static unsigned bits(float f) {
    unsigned u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static void print_all(const char *key, const float *v, size_t n) {
    for (size_t i = 0; i < n; i++) printf("%s.%zu %08x\n", key, i, bits(v[i]));
}

static void print_err(const char *key, tl_code code, const tl_error *e) {
    printf("err %s %d %d %zu %zu %zu %.*s\n", key, (int)code, (int)e->at, e->index, e->expected,
           e->found, e->name ? (int)e->name_len : 1, e->name ? e->name : "-");
}

int main(void) {
    float x[N], p[N], y[N], w[N], grad[N], loss = 0.0f;
    bool ignore[N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)((i * 37) % 101 - 50) * 0.173f;
        p[i] = (float)((i * 53) % 97 + 1) / 99.0f;
        y[i] = (i % 5 == 0) ? 1.0f : 0.0f;
        w[i] = (float)(i % 4) * 0.5f + 0.25f;
        ignore[i] = (i % 7 == 3);
    }
    tl_error err;
    memset(&err, 0, sizeof err);

    /* Binary: RetinaNet focal, mean over positives. */
    tl_binary_loss focal = {TL_FOCAL, 2.0f, 0.25f, true, 1.0f, 0.0f};
    tl_code c = tl_binary_loss_grad(&focal, x, y, N, NULL, NULL, false, TL_MEAN_OVER_POSITIVES,
                                    0.0f, grad, &loss, &err);
    printf("focal.code %d\nfocal.loss %08x\n", (int)c, bits(loss));
    print_all("focal.grad", grad, N);

    /* Sigmoid CE, pos_weight 3, smoothing 0.1, weights and a mask, mean. */
    tl_binary_loss ce = {TL_SIGMOID_CE, 0.0f, 0.0f, false, 3.0f, 0.1f};
    c = tl_binary_loss_grad(&ce, x, y, N, w, ignore, false, TL_MEAN, 0.0f, grad, &loss, &err);
    printf("ce.code %d\nce.loss %08x\n", (int)c, bits(loss));
    print_all("ce.grad", grad, N);

    /* Focal γ = 1.5 without α on probabilities, MeanOver(7), loss only. */
    tl_binary_loss fp = {TL_FOCAL, 1.5f, 0.0f, false, 1.0f, 0.0f};
    c = tl_binary_loss_grad(&fp, p, y, N, NULL, NULL, true, TL_MEAN_OVER, 7.0f, NULL, &loss, &err);
    printf("focal_prob.code %d\nfocal_prob.loss %08x\n", (int)c, bits(loss));

    /* Softmax: CE with class weights, and focal with smoothing and an
     * ignore index. */
    float z[ROWS * C], g[ROWS * C], cw[C] = {1.0f, 2.0f, 0.5f, 1.5f, 3.0f};
    uint32_t labels[ROWS];
    for (int i = 0; i < ROWS * C; i++) z[i] = (float)((i * 29) % 41 - 20) * 0.31f;
    for (int r = 0; r < ROWS; r++) labels[r] = (uint32_t)((r * 3) % C);
    tl_softmax_loss sce = {TL_SOFTMAX_CE, 0.0f, 0.0f, -1};
    c = tl_softmax_loss_grad(&sce, z, ROWS, C, labels, cw, TL_MEAN, 0.0f, g, &loss, &err);
    printf("softmax_ce.code %d\nsoftmax_ce.loss %08x\n", (int)c, bits(loss));
    print_all("softmax_ce.grad", g, ROWS * C);
    tl_softmax_loss sf = {TL_SOFTMAX_FOCAL, 2.0f, 0.05f, 4};
    c = tl_softmax_loss_grad(&sf, z, ROWS, C, labels, NULL, TL_SUM, 0.0f, g, &loss, &err);
    printf("softmax_focal.code %d\nsoftmax_focal.loss %08x\n", (int)c, bits(loss));
    print_all("softmax_focal.grad", g, ROWS * C);

    /* Quantized: a RetinaNet table on int8 logits at scale 1/16. */
    static tl_binary_table table;
    int8_t codes[Q], g8[Q];
    float qy[Q], gq[Q], gscale = 0.0f;
    for (int i = 0; i < Q; i++) {
        codes[i] = (int8_t)((i * 71) % 256 - 128);
        qy[i] = (i % 3 == 0) ? 1.0f : 0.0f;
    }
    c = tl_binary_table_init(&table, &focal, 0.0625f, 0, false, &err);
    printf("table.code %d\n", (int)c);
    c = tl_binary_table_loss_grad(&table, codes, qy, Q, NULL, TL_MEAN, 0.0f, gq, &loss, &err);
    printf("table_f32.code %d\ntable_f32.loss %08x\n", (int)c, bits(loss));
    print_all("table_f32.grad", gq, Q);
    c = tl_binary_table_loss_grad_i8(&table, codes, qy, Q, NULL, TL_MEAN, 0.0f, g8, &gscale, &loss,
                                     &err);
    printf("table_i8.code %d\ntable_i8.loss %08x\ntable_i8.scale %08x\n", (int)c, bits(loss),
           bits(gscale));
    for (int i = 0; i < Q; i++) printf("table_i8.grad.%d %d\n", i, g8[i]);
    c = tl_dequantize_i8(codes, Q, 0.0625f, 0, gq, &err);
    printf("dequantize.code %d\n", (int)c);
    print_all("dequantize", gq, Q);
    c = tl_quantize_max_abs_i8(x, N, g8, &gscale, &err);
    printf("quantize.code %d\nquantize.scale %08x\n", (int)c, bits(gscale));
    for (int i = 0; i < N; i++) printf("quantize.%d %d\n", i, g8[i]);

    /* Class counts and class-balanced weights. */
    uint32_t counts[C] = {0, 0, 0, 0, 0}, seen[12];
    for (int i = 0; i < 12; i++) seen[i] = (uint32_t)((i * i) % C);
    c = tl_count_classes(counts, C, seen, 12, &err);
    printf("count.code %d\n", (int)c);
    for (int i = 0; i < C; i++) printf("count.%d %u\n", i, counts[i]);
    float cbw[C];
    c = tl_class_balanced_weights(counts, C, 0.99f, TL_SUM_TO_CLASSES, cbw, &err);
    printf("cb_sum.code %d\n", (int)c);
    print_all("cb_sum", cbw, C);
    c = tl_class_balanced_weights(counts, C, 0.99f, TL_MEAN_SAMPLE_WEIGHT, cbw, &err);
    printf("cb_mean.code %d\n", (int)c);
    print_all("cb_mean", cbw, C);

    /* Errors: each leaves its outputs untouched. */
    for (int i = 0; i < N; i++) grad[i] = 1234.5f;
    x[3] = NAN;
    c = tl_binary_loss_grad(&focal, x, y, N, NULL, NULL, false, TL_MEAN, 0.0f, grad, &loss, &err);
    print_err("nan_logit", c, &err);
    x[3] = 0.0f;
    tl_binary_loss bad = {TL_FOCAL, -1.0f, 0.25f, true, 1.0f, 0.0f};
    c = tl_binary_loss_grad(&bad, x, y, N, NULL, NULL, false, TL_MEAN, 0.0f, grad, &loss, &err);
    print_err("bad_gamma", c, &err);
    c = tl_binary_loss_grad(&focal, NULL, y, N, NULL, NULL, false, TL_MEAN, 0.0f, grad, &loss, &err);
    print_err("null_inputs", c, &err);
    c = tl_binary_loss_grad(&focal, x, y, 0, NULL, NULL, false, TL_MEAN, 0.0f, grad, &loss, &err);
    print_err("empty", c, &err);
    c = tl_binary_loss_grad(&focal, x, y, N, NULL, NULL, false, TL_MEAN_OVER, -1.0f, grad, &loss,
                            &err);
    print_err("bad_normalizer", c, &err);
    int untouched = 1;
    for (int i = 0; i < N; i++) untouched &= grad[i] == 1234.5f;
    printf("binary_untouched %d\n", untouched);
    labels[2] = 9;
    c = tl_softmax_loss_grad(&sce, z, ROWS, C, labels, NULL, TL_MEAN, 0.0f, g, &loss, &err);
    print_err("bad_label", c, &err);
    qy[5] = 0.5f;
    c = tl_binary_table_loss_grad(&table, codes, qy, Q, NULL, TL_MEAN, 0.0f, gq, &loss, &err);
    print_err("soft_target_table", c, &err);
    seen[7] = 5;
    uint32_t before = counts[0];
    c = tl_count_classes(counts, C, seen, 12, &err);
    print_err("count_label", c, &err);
    printf("count_untouched %d\n", counts[0] == before);
    c = tl_binary_table_init(&table, &focal, 0.0f, 0, false, &err);
    print_err("bad_scale", c, &err);
    c = tl_binary_table_init(&table, &focal, 1.0f / 128.0f, 0, true, &err);
    print_err("prob_quantization", c, &err);
    return 0;
}
