;; The ranking kernel (shared/eval/rank-kernel.ts rankAndTopK, four scores at a time with
;; WebAssembly SIMD): one pass over a row of scores counts the scores above and equal to the
;; target's and keeps the top k items sorted. A group of four leaves the vector loop only when
;; one of its scores beats the current k-th score, which after the first few thousand items is
;; rare. Compiled by scripts/gen-rank-kernel.mjs into rank-kernel-wasm.ts (checked in CI).
(module
  (memory (export "memory") 1)
  ;; top entries kept so far, and the k-th kept score (-inf until k are kept)
  (global $filled (mut i32) (i32.const 0))
  (global $floor (mut f32) (f32.const -inf))

  ;; Inserts item `id` scored `s` (> floor) into the sorted top list; equal scores keep the earlier item first.
  (func $insert (param $s f32) (param $id i32) (param $k i32) (param $items i32) (param $scores i32)
    (local $j i32)
    (local $at i32)
    (local.set $j
      (select (global.get $filled) (i32.sub (local.get $k) (i32.const 1))
        (i32.lt_s (global.get $filled) (local.get $k))))
    (block $placed
      (loop $shift
        (br_if $placed (i32.le_s (local.get $j) (i32.const 0)))
        (local.set $at (i32.shl (local.get $j) (i32.const 2)))
        (br_if $placed
          (i32.eqz (f32.lt (f32.load (i32.sub (i32.add (local.get $scores) (local.get $at)) (i32.const 4))) (local.get $s))))
        (f32.store (i32.add (local.get $scores) (local.get $at))
          (f32.load (i32.sub (i32.add (local.get $scores) (local.get $at)) (i32.const 4))))
        (i32.store (i32.add (local.get $items) (local.get $at))
          (i32.load (i32.sub (i32.add (local.get $items) (local.get $at)) (i32.const 4))))
        (local.set $j (i32.sub (local.get $j) (i32.const 1)))
        (br $shift)))
    (local.set $at (i32.shl (local.get $j) (i32.const 2)))
    (f32.store (i32.add (local.get $scores) (local.get $at)) (local.get $s))
    (i32.store (i32.add (local.get $items) (local.get $at)) (local.get $id))
    (if (i32.lt_s (global.get $filled) (local.get $k))
      (then (global.set $filled (i32.add (global.get $filled) (i32.const 1)))))
    (if (i32.eq (global.get $filled) (local.get $k))
      (then (global.set $floor
        (f32.load (i32.add (local.get $scores) (i32.shl (i32.sub (local.get $k) (i32.const 1)) (i32.const 2))))))))

  ;; The top-list step of one score: kept when it beats the k-th.
  (func $consider (param $s f32) (param $id i32) (param $k i32) (param $items i32) (param $scores i32)
    (if (f32.gt (local.get $s) (global.get $floor))
      (then (call $insert (local.get $s) (local.get $id) (local.get $k) (local.get $items) (local.get $scores)))))

  ;; row: n f32 scores; target: the target's index in row; items/scores: k i32 / f32 top entries
  ;; (item = index + 1; 0 and -inf past the kept ones); out: the counts above and equal (2 x i32).
  (func (export "rankTopK")
    (param $row i32) (param $n i32) (param $target i32) (param $k i32)
    (param $items i32) (param $scores i32) (param $out i32)
    (local $t f32) (local $s f32) (local $i i32) (local $end i32) (local $p i32)
    (local $vt v128) (local $vf v128) (local $v v128) (local $above v128) (local $equal v128)
    (local $greater i32) (local $ties i32)
    (local.set $t (f32.load (i32.add (local.get $row) (i32.shl (local.get $target) (i32.const 2)))))
    (global.set $filled (i32.const 0))
    (global.set $floor (f32.const -inf))
    (local.set $vt (f32x4.splat (local.get $t)))
    (local.set $vf (f32x4.splat (global.get $floor)))
    (local.set $end (i32.and (local.get $n) (i32.const -4)))
    (block $vectors_done
      (loop $vectors
        (br_if $vectors_done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $p (i32.add (local.get $row) (i32.shl (local.get $i) (i32.const 2))))
        (local.set $v (v128.load (local.get $p)))
        (local.set $above (i32x4.sub (local.get $above) (f32x4.gt (local.get $v) (local.get $vt))))
        (local.set $equal (i32x4.sub (local.get $equal) (f32x4.eq (local.get $v) (local.get $vt))))
        (if (v128.any_true (f32x4.gt (local.get $v) (local.get $vf)))
          (then
            (call $consider (f32x4.extract_lane 0 (local.get $v)) (i32.add (local.get $i) (i32.const 1))
              (local.get $k) (local.get $items) (local.get $scores))
            (call $consider (f32x4.extract_lane 1 (local.get $v)) (i32.add (local.get $i) (i32.const 2))
              (local.get $k) (local.get $items) (local.get $scores))
            (call $consider (f32x4.extract_lane 2 (local.get $v)) (i32.add (local.get $i) (i32.const 3))
              (local.get $k) (local.get $items) (local.get $scores))
            (call $consider (f32x4.extract_lane 3 (local.get $v)) (i32.add (local.get $i) (i32.const 4))
              (local.get $k) (local.get $items) (local.get $scores))
            (local.set $vf (f32x4.splat (global.get $floor)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $vectors)))
    (local.set $greater
      (i32.add
        (i32.add (i32x4.extract_lane 0 (local.get $above)) (i32x4.extract_lane 1 (local.get $above)))
        (i32.add (i32x4.extract_lane 2 (local.get $above)) (i32x4.extract_lane 3 (local.get $above)))))
    (local.set $ties
      (i32.add
        (i32.add (i32x4.extract_lane 0 (local.get $equal)) (i32x4.extract_lane 1 (local.get $equal)))
        (i32.add (i32x4.extract_lane 2 (local.get $equal)) (i32x4.extract_lane 3 (local.get $equal)))))
    ;; the last n mod 4 scores, one at a time
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $s (f32.load (i32.add (local.get $row) (i32.shl (local.get $i) (i32.const 2)))))
        (if (f32.gt (local.get $s) (local.get $t)) (then (local.set $greater (i32.add (local.get $greater) (i32.const 1)))))
        (if (f32.eq (local.get $s) (local.get $t)) (then (local.set $ties (i32.add (local.get $ties) (i32.const 1)))))
        (call $consider (local.get $s) (i32.add (local.get $i) (i32.const 1)) (local.get $k) (local.get $items) (local.get $scores))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail)))
    ;; the unfilled end of the top list: no item
    (local.set $i (global.get $filled))
    (block $fill_done
      (loop $fill
        (br_if $fill_done (i32.ge_s (local.get $i) (local.get $k)))
        (i32.store (i32.add (local.get $items) (i32.shl (local.get $i) (i32.const 2))) (i32.const 0))
        (f32.store (i32.add (local.get $scores) (i32.shl (local.get $i) (i32.const 2))) (f32.const -inf))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $fill)))
    (i32.store (local.get $out) (local.get $greater))
    (i32.store offset=4 (local.get $out) (local.get $ties))))
