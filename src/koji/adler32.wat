;; Adler-32 with WebAssembly SIMD, for uploads' per-chunk checksums (see adler32.ts).
;; `npx tsx scripts/gen-adler32-wasm.ts` assembles it (wat2wasm, Debian's wabt) into
;; adler32-wasm.ts; a test checks that file is current.
;;
;; adler32(len, adler) continues `adler` (zlib's value: b << 16 | a) over bytes [0, len) of the
;; memory. Blocks of up to 256 vectors of 16 bytes: for a block of n vectors x_k starting from
;; (a0, b0),
;;   a = a0 + sum of all bytes
;;   b = b0 + 16 n a0 + 16 * sum_k (sum of the bytes of x_0 .. x_k-1) + sum_k sum_j (16 - j) x_k[j]
;; kept per 32-bit lane in vs1, vps and vs2. With n <= 256 every sum stays below 2^32 (vps
;; below 2^27 per lane, the whole of b below 2.5e9), so the block is folded with unsigned i32
;; arithmetic and one modulo.
(module
  (memory (export "memory") 17)
  (func (export "adler32") (param $len i32) (param $adler i32) (result i32)
    (local $a i32) (local $b i32) (local $p i32) (local $end i32) (local $n i32)
    (local $v v128) (local $vs1 v128) (local $vs2 v128) (local $vps v128)
    (local.set $a (i32.and (local.get $adler) (i32.const 0xffff)))
    (local.set $b (i32.shr_u (local.get $adler) (i32.const 16)))
    (block $blocks_done
      (loop $blocks
        (local.set $n (i32.shr_u (i32.sub (local.get $len) (local.get $p)) (i32.const 4)))
        (br_if $blocks_done (i32.eqz (local.get $n)))
        (if (i32.gt_u (local.get $n) (i32.const 256)) (then (local.set $n (i32.const 256))))
        (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 4))))
        (local.set $vs1 (v128.const i32x4 0 0 0 0))
        (local.set $vs2 (v128.const i32x4 0 0 0 0))
        (local.set $vps (v128.const i32x4 0 0 0 0))
        (loop $vectors
          (local.set $v (v128.load (local.get $p)))
          (local.set $vps (i32x4.add (local.get $vps) (local.get $vs1)))
          (local.set $vs1 (i32x4.add (local.get $vs1)
            (i32x4.extadd_pairwise_i16x8_u (i16x8.extadd_pairwise_i8x16_u (local.get $v)))))
          (local.set $vs2 (i32x4.add (local.get $vs2)
            (i32x4.add
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_u (local.get $v)) (v128.const i16x8 16 15 14 13 12 11 10 9))
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_u (local.get $v)) (v128.const i16x8 8 7 6 5 4 3 2 1)))))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (br_if $vectors (i32.lt_u (local.get $p) (local.get $end))))
        (local.set $b (i32.rem_u
          (i32.add
            (i32.add (local.get $b) (i32.mul (i32.shl (local.get $n) (i32.const 4)) (local.get $a)))
            (i32.add
              (i32.shl (call $hsum (local.get $vps)) (i32.const 4))
              (call $hsum (local.get $vs2))))
          (i32.const 65521)))
        (local.set $a (i32.rem_u (i32.add (local.get $a) (call $hsum (local.get $vs1))) (i32.const 65521)))
        (br $blocks)))
    ;; the last len % 16 bytes, one at a time
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $p) (local.get $len)))
        (local.set $a (i32.add (local.get $a) (i32.load8_u (local.get $p))))
        (local.set $b (i32.add (local.get $b) (local.get $a)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $tail)))
    (i32.or
      (i32.shl (i32.rem_u (local.get $b) (i32.const 65521)) (i32.const 16))
      (i32.rem_u (local.get $a) (i32.const 65521))))
  (func $hsum (param $v v128) (result i32)
    (i32.add
      (i32.add (i32x4.extract_lane 0 (local.get $v)) (i32x4.extract_lane 1 (local.get $v)))
      (i32.add (i32x4.extract_lane 2 (local.get $v)) (i32x4.extract_lane 3 (local.get $v))))))
