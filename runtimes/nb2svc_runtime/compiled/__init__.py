"""Compiled models: a fitted scikit-learn model converted to ONNX at build time and served by
ONNX Runtime, with the native model's labels (benchmarks/serving/compiled-backends-study.md).

`convert` is the build side (scikit-learn, skl2onnx and onnx, imported only there);
`onnx_model` is the serving side and needs nothing but numpy and onnxruntime, so a
compiled image can leave scikit-learn, scipy and pandas out.
"""
