"""GET / is public; GET /protected needs a usable key (HasAPIKey)."""
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_api_key.permissions import HasAPIKey


class Index(APIView):
    def get(self, request):
        return Response({"message": "public endpoint: no key needed", "protected": "/protected"})


class Protected(APIView):
    permission_classes = [HasAPIKey]

    def get(self, request):
        return Response({"message": "authorized"})


urlpatterns = [
    path("", Index.as_view()),
    path("protected", Protected.as_view()),
]
