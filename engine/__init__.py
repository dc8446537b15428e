"""ConvNet Studio's engine: models, media and training, free of Streamlit.

Importing this package is cheap: TensorFlow is imported only by the modules that need it, so the
app's home page starts quickly.
"""
