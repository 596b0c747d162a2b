# One image for web, worker and beat.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
RUN DEBUG=False SECRET_KEY=collectstatic-only AUDIT_LOG_KEY=collectstatic-only python manage.py collectstatic --noinput \
    && useradd --create-home --uid 10001 iamreview \
    && mkdir -p /app/var/audit-checkpoints && chown -R iamreview /app/var
USER iamreview

EXPOSE 8000
# --timeout 300: an import runs in its request (a 50 MB file with detection takes minutes).
CMD ["gunicorn", "iamreview.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "300", "--access-logfile", "-"]
